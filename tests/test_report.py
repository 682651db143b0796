"""`maskray report` against a real MLflow server on 127.0.0.1 (`maskray ui` runs `mlflow
server`), rendered in headless Chromium."""
import json
import re
import urllib.request
from pathlib import Path

import pytest

from trainables import tracking
from tests.conftest import chromium_dom, maskray, needs_chromium



def mask_png(path: Path) -> Path:
    import numpy as np

    from trainables.mask_picture import draw_mask_picture
    frames = np.random.default_rng(0).random((4, 32, 32, 3))
    draw_mask_picture(frames, [("masked", np.arange(8) % 3 == 0)], (2, 2, 2), 2, "tube 0.75", str(path))
    return path


def log_study(uri: str, tmp_path: Path, finished: bool = True) -> str:
    """A study's runs as the trial pipeline logs them: 2 strategies × 2 ratios × 2 seeds."""
    from mlflow.entities import Metric
    exp = tracking.ensure_experiment(uri, "report-study", None)
    study_id = "report-study-20261125-000000"
    parent = tracking.parent_run(uri, exp, study_id, study_id, {"study.name": "report-study"})
    client = tracking.client(uri)
    picture = mask_png(tmp_path / "pretrain_mask.png")
    reconstruction = mask_png(tmp_path / "pretrain_reconstruction.png")
    key = 0
    for strategy in ("random", "tube"):
        for ratio in (0.75, 0.9):
            for seed in (0, 1):
                axes = {"pretrain.masking.strategy": strategy, "pretrain.masking.ratio": ratio, "seed": seed}
                run, _ = tracking.child_run(
                    uri, exp, parent, study_id, f"id{key}", f"t{key:03d}",
                    {"pretrain.masking.strategy": strategy, "pretrain.masking.ratio": ratio, "seed": seed},
                    {"maskray.trial_key": f"t{key:03d}", **{f"maskray.axis.{k}": str(v) for k, v in axes.items()}})
                run_id = run.info.run_id
                key += 1
                if not finished:
                    continue
                top1 = 30 + (10 if strategy == "tube" else 0) + (5 if ratio == 0.9 else 0) + seed
                metrics = [Metric("finetune/top1", top1 - 10 + 5 * e, 0, e) for e in (1, 2, 3)]
                metrics += [Metric("pretrain/loss", 1.0 - 0.1 * e, 0, e) for e in (1, 2)]
                metrics += [Metric("finetune/test_top1", top1, 0, 3),
                            Metric("model/encoder_gflops_pretrain", 0.1 * (1 - ratio), 0, 0),
                            Metric("model/encoder_gflops_full", 0.1, 0, 0)]
                timeline = {"driver_ready": 0.1, "worker_ready": 2.1, "pretrain_first_step": 2.6,
                            "finetune_end": 12.6, "test_done": 12.9, "weights_logged": 13.0, "run_closed": 13.2}
                metrics += [Metric(f"timeline/{event}_s", seconds, 0, 0) for event, seconds in timeline.items()]
                client.log_batch(run_id, metrics=metrics)
                client.log_artifact(run_id, str(picture), "masks")
                client.log_artifact(run_id, str(reconstruction), "reconstructions")
                client.set_terminated(run_id, "FINISHED")
    return parent


def rendered_image_sizes(html_path: Path, tmp_path: Path) -> list[tuple[int, int]]:
    """Loads the page in headless Chromium and reads back each image's decoded size."""
    probe = tmp_path / "probe.html"
    script = ("<script>window.addEventListener('load',()=>{const p=document.createElement('pre');"
              "p.id='sizes';p.textContent=[...document.images].map(i=>i.naturalWidth+'x'+i.naturalHeight)"
              ".join(' ');document.body.appendChild(p);});</script>")
    probe.write_text(html_path.read_text().replace("</body>", script + "</body>"))
    dom = chromium_dom(probe.as_uri())
    found = re.search(r'<pre id="sizes">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    return [tuple(int(v) for v in size.split("x")) for size in found.group(1).split()]


@needs_chromium
def test_report_renders_and_is_attached_to_the_parent_run(mlflow_ui, tmp_path):
    server = mlflow_ui.url
    parent = log_study(server, tmp_path)
    out_dir = tmp_path / "report"
    out = maskray("report", "report-study", "--tracking-uri", server, "--out", str(out_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    page = out_dir / "report.html"
    text = page.read_text()
    assert "Ablation table" in text and "theirs, not ours" in text and "VideoMAE" in text
    # 4 axis cells, each over 2 seeds; the best one (tube, 0.9) is starred
    assert text.count("<tr class=best>") == 1 and text.count("<tr class=cell>") == 3
    assert re.search(r"<tr class=best><td>0\.9</td><td>tube</td><td>45\.5 ± ", text)
    # each trial's timeline as phases: 2.0 s of start-up, 10.0 s of training, 13.2 s in all
    assert "Where each trial's time went" in text
    timing = (out_dir / "timeline.csv").read_text().splitlines()
    assert len(timing) == 9 and timing[1].startswith("t000,0.1,2.0,0.5,10.0,0.3,0.1,0.2") and timing[1].endswith(",13.2")
    assert "<h2>Masks</h2>" in text and "<h2>Reconstructions after pretraining</h2>" in text
    assert text.count("pretrain_reconstruction.png</figcaption>") == 4      # one per arm
    sizes = rendered_image_sizes(page, tmp_path)
    assert len(sizes) >= 11                   # three plots, four masks, four reconstructions
    assert all(w > 200 and h > 100 for w, h in sizes), sizes

    request = urllib.request.Request(f"{server}/api/2.0/mlflow/artifacts/list?run_id={parent}&path=report")
    files = {Path(f["path"]).name for f in json.load(urllib.request.urlopen(request, timeout=10))["files"]}
    assert {"report.html", "ablation.csv", "trials.csv", "timeline.csv", "top1_by_axis.png", "top1_vs_gflops.png",
            "training_curves.png"} <= files


@pytest.fixture(scope="module")
def unfinished_store(tmp_path_factory) -> str:
    """A SQLite store holding a study whose trials have not reported yet."""
    tmp = tmp_path_factory.mktemp("unfinished")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    log_study(uri, tmp, finished=False)
    return uri


def test_report_of_a_study_without_results_says_so(unfinished_store, tmp_path):
    out = maskray("report", "report-study", "--tracking-uri", unfinished_store, "--out", str(tmp_path / "r"),
                  "--no-log")
    assert out.returncode == 0, out.stderr
    assert "No trial has finished yet" in (tmp_path / "r" / "report.html").read_text()


def test_unknown_study_is_a_clear_error(unfinished_store):
    out = maskray("report", "no-such-study", "--tracking-uri", unfinished_store, "--no-log")
    assert out.returncode == 2 and "no MLflow experiment named 'no-such-study'" in out.stderr
    assert "report-study" in out.stderr
    out = maskray("report", "report-study", "--tracking-uri", unfinished_store, "--study-id", "nope", "--no-log")
    assert out.returncode == 2 and "no execution 'nope'" in out.stderr


def test_status_and_compare_read_the_study_from_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log_study(uri, tmp_path)
    out = maskray("status", "report-study", "--tracking-uri", uri)
    assert out.returncode == 0, out.stderr
    assert "8 done" in out.stdout and "best so far: t007 test top-1 46.0%" in out.stdout
    assert "finetune  epoch 3" in out.stdout
    out = maskray("compare", "t000", "t007", "--study", "report-study", "--tracking-uri", uri)
    assert out.returncode == 0, out.stderr
    assert "pretrain.masking.strategy  random  →  tube" in out.stdout
    assert "pretrain.masking.ratio     0.75  →  0.9" in out.stdout
    assert re.search(r"finetune/test_top1\s+30\s+46\s+\+16", out.stdout)
    out = maskray("compare", "t000", "t099", "--study", "report-study", "--tracking-uri", uri)
    assert out.returncode == 2 and "no trial 't099'" in out.stderr
