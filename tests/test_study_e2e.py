"""A real study end to end: `maskray run` → local Ray, Tune trials of Ray Train pretraining
and fine-tuning with 2 DDP workers, nested runs in a real MLflow store."""
import textwrap
from pathlib import Path

import pytest

from tests.conftest import maskray, values_logged_twice

pytestmark = pytest.mark.slow

STUDY = """
    name: e2e
    data:
      source: lists
      root: {root}
      num_classes: 8
      num_frames: 8
      sampling_rate: 2
      input_size: 32
      loader_workers: 0
      max_unreadable_fraction: {max_bad}
    model: {{preset: nano, patch_size: 8}}
    pretrain:
      epochs: 1
      batch_size: 4
      base_lr: 1.0e-2
      masking: {{strategy: motion_guided, ratio: 0.75}}
      targets: {{rgb_diff: 1.0, vq_codes: 0.5}}     # MAM2's two decoders behind a regressor
      regressor: {{depth: 1}}
      tokenizer: {{codebook_size: 32, epochs: 2}}
    finetune:
      epochs: 2
      batch_size: 4
      base_lr: 2.0e-2
      masking: {{strategy: cell_running, ratio: 0.5, keep_rate: 0.6}}
      head: bridging
      bridge_dim: 64
    sweep:
      finetune.masking.strategy: [cell_running, keyframe]
    seeds: [0]
    resources: {{workers_per_trial: 2, cpus_per_worker: 0.99, max_concurrent_trials: 1}}
"""


def make_dataset(synth_root: Path, tmp_path: Path, broken_in: str) -> Path:
    """A copy of the lists with one truncated video added to split `broken_in`."""
    root = tmp_path / "data"
    root.mkdir()
    for split in ("train", "val", "test"):
        lines = [f"{synth_root / line.split()[0]} {line.split()[1]}"
                 for line in (synth_root / f"{split}.csv").read_text().splitlines()]
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    broken = root / "broken_clip.mp4"
    first = (root / "train.csv").read_text().split()[0]
    broken.write_bytes(Path(first).read_bytes()[:400])
    with open(root / f"{broken_in}.csv", "a") as f:
        f.write(f"{broken} 3\n")
    return root


def runs_of(tracking_uri: str):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("e2e")
    return client, client.search_runs([exp.experiment_id])


def test_two_trial_study_end_to_end(synth_root, tmp_path):
    root = make_dataset(synth_root, tmp_path, broken_in="train")
    study = tmp_path / "e2e.yaml"
    study.write_text(textwrap.dedent(STUDY.format(root=root, max_bad=0.1)))
    out = maskray("run", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "t000" in out.stdout and "t001" in out.stdout and "test top-1" in out.stdout

    client, runs = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parents = [r for r in runs if r.data.tags.get("maskray.role") == "study"]
    children = [r for r in runs if r.data.tags.get("maskray.role") == "trial"]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.params["finetune.masking.strategy"] for c in children} == {"cell_running", "keyframe"}
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        m = child.data.metrics
        assert {"pretrain/loss", "finetune/loss", "finetune/top1", "finetune/top5", "finetune/test_top1",
                "pretrain/epoch_time_s", "model/encoder_gflops_pretrain"} <= set(m)
        assert m["data/pretrain_skipped_videos"] == m["data/finetune_skipped_videos"] == 1   # skipped, not swapped
        assert values_logged_twice(client, child) == []
        assert m["model/encoder_gflops_pretrain"] < m["model/encoder_gflops_full"]
        # masked fine-tuning (MAR) and keyframe dropout (EVAD) both cut the encoder's compute
        assert m["model/encoder_gflops_finetune"] < 0.8 * m["model/encoder_gflops_full"]
        assert m["data/pretrain_motion_fallback_clips"] >= 0    # motion-guided masks were built
        assert 0 <= m["pretrain/knn_top1"] <= 100                # comparable across targets
        assert m["model/decoder_gflops"] > 0 and m["pretrain/train_gflops_total"] > 0
        steps = [p.step for p in client.get_metric_history(child.info.run_id, "finetune/top1")]
        assert steps == [1, 2]
        artifacts = {a.path for folder in ("config", "masks", "model", "data")
                     for a in client.list_artifacts(child.info.run_id, folder)}
        assert {"config/trial_config.json", "masks/pretrain_mask.png", "masks/finetune_mask.png",
                "model/finetuned.safetensors",
                "data/unreadable_train.txt"} <= artifacts
        tokenizer = {a.path for a in client.list_artifacts(child.info.run_id, "tokenizer")}
        assert tokenizer == {"tokenizer/tokenizer.json", "tokenizer/tokenizer.safetensors"}
        listed = Path(client.download_artifacts(child.info.run_id, "data/unreadable_train.txt", str(tmp_path)))
        assert "broken_clip.mp4" in listed.read_text()

    # Both trials share one pretraining config: the second fine-tunes the first one's encoder,
    # and its run carries the same pretraining metrics (the first pretraining is the source).
    source = [c for c in children if c.data.tags.get("maskray.pretrain_done") == "1"]
    reused = [c for c in children if "maskray.pretrain_reused_from" in c.data.tags]
    assert len(source) == 1 and len(reused) == 1, [c.data.tags for c in children]
    assert reused[0].data.tags["maskray.pretrain_reused_from"] == source[0].info.run_id
    assert "reused from t00" in out.stdout
    for key in ("pretrain/loss", "pretrain/knn_top1", "model/decoder_gflops"):
        assert reused[0].data.metrics[key] == source[0].data.metrics[key]
    assert {a.path for a in client.list_artifacts(source[0].info.run_id, "pretrain")} == {
        "pretrain/autoencoder.safetensors", "pretrain/record.json"}


def test_unreadable_validation_clip_fails_the_trial_by_name(synth_root, tmp_path):
    root = make_dataset(synth_root, tmp_path, broken_in="val")
    study = tmp_path / "e2e.yaml"
    text = textwrap.dedent(STUDY.format(root=root, max_bad=0.0))
    short = text.replace("[cell_running, keyframe]", "[cell_running]").replace("pretrain:\n", "pretrain:\n  enabled: false\n")
    assert short.count("enabled: false") == 1 and "keyframe]" not in short
    study.write_text(short)
    out = maskray("run", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=900)
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "broken_clip.mp4" in out.stdout + out.stderr
    _, runs = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    child = [r for r in runs if r.data.tags.get("maskray.role") == "trial"][0]
    assert child.info.status == "FAILED"


def test_missing_list_is_an_error_before_ray_starts(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(textwrap.dedent(STUDY.format(root=tmp_path / "nowhere", max_bad=0.1)))
    out = maskray("run", str(study), cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert "data.train_list" in out.stderr and "does not exist" in out.stderr
    assert not (tmp_path / "maskray_results").exists()


def test_one_worker_trials_run_in_their_driver_with_the_results_of_a_worker_group(synth_root, tmp_path):
    """A one-worker trial runs in its Tune trial driver (no Ray Train worker group): the same
    losses and accuracies, epoch by epoch, as on a worker group; a timeline in its run; the
    pretraining cache works across trials the same way."""
    from mlflow.tracking import MlflowClient

    from tests.conftest import ONE_WORKER, two_trial_study
    pretraining = "pretrain: {epochs: 1, batch_size: 4, masking: {strategy: tube, ratio: 0.75}}"
    results = {}
    for name, resources in (("driver", ONE_WORKER),
                            ("group", ONE_WORKER.replace("}", ", worker_group: always}"))):
        study = tmp_path / f"{name}.yaml"
        study.write_text(two_trial_study(name, synth_root, resources=resources)
                         .replace("pretrain: {enabled: false}", pretraining))
        out = maskray("run", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        exp = client.get_experiment_by_name(name)
        runs = {r.data.tags["maskray.trial_key"]: r
                for r in client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'")}
        assert sorted(runs) == ["t000", "t001"] and all(r.info.status == "FINISHED" for r in runs.values())
        assert "maskray.pretrain_reused_from" in runs["t001"].data.tags        # one pretraining, reused
        for run in runs.values():
            assert run.data.metrics["timeline/run_closed_s"] >= run.data.metrics["timeline/finetune_end_s"] > 0
        results[name] = {key: {m: [(p.step, p.value) for p in sorted(client.get_metric_history(r.info.run_id, m),
                                                                      key=lambda p: p.step)]
                               for m in ("pretrain/loss", "finetune/loss", "finetune/top1", "finetune/test_top1")}
                         for key, r in runs.items()}
        started = {key: "timing/worker_group_start_s" in r.data.metrics for key, r in runs.items()}
        assert all(started.values()) == (name == "group") and any(started.values()) == (name == "group")
    assert results["driver"] == results["group"]


def test_control_arm_and_paired_comparisons_in_the_report(synth_root, tmp_path):
    """`control: true` adds a from-scratch arm (one per fine-tuning setting and seed); every
    trial logs its per-clip test predictions; the report pairs each arm with the control and
    with the reference arm on the same seeds and clips, and says whether each is separated."""
    import csv

    from mlflow.tracking import MlflowClient

    from tests.conftest import ONE_WORKER, small_clips
    study = tmp_path / "arms.yaml"
    study.write_text(f"name: arms\n{small_clips(synth_root)}\n" + textwrap.dedent(f"""
        pretrain: {{epochs: 1, batch_size: 4, masking: {{strategy: tube, ratio: 0.75}}}}
        finetune: {{epochs: 2, batch_size: 4, base_lr: 2.0e-2}}
        sweep:
          pretrain.masking.strategy: [tube, random]
        seeds: [0, 1]
        control: true
        reference: {{pretrain.masking.strategy: tube}}
        resources: {ONE_WORKER}
    """))
    validate = maskray("validate", str(study))
    assert validate.returncode == 0 and "6 trials" in validate.stdout and "scratch" in validate.stdout
    out = maskray("run", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("arms")
    runs = client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'")
    controls = [r for r in runs if r.data.tags["maskray.arm"] == "control"]
    assert len(runs) == 6 and len(controls) == 2
    assert all(r.data.params["pretrain.enabled"] == "False" and "pretrain/loss" not in r.data.metrics
               for r in controls)
    test_clips = len((synth_root / "test.csv").read_text().split("\n")) - 1
    for run in runs:
        local = client.download_artifacts(run.info.run_id, "predictions/test.csv", str(tmp_path / run.info.run_id))
        rows = list(csv.DictReader(open(local)))
        assert len(rows) == test_clips
        top1 = 100 * sum(int(r["correct"]) for r in rows) / len(rows)
        assert abs(top1 - run.data.metrics["finetune/test_top1"]) < 1e-6     # the artifact is the metric

    report = maskray("report", "arms", "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.html").read_text()
    assert "Paired comparisons" in text and "paired bootstrap" in text
    paired = list(csv.DictReader(open(tmp_path / "report" / "paired.csv")))
    by_strategy = {r["pretrain.masking.strategy"]: r for r in paired}
    assert set(by_strategy) == {"tube", "random"}
    for row in paired:
        assert row["seeds"] == "2" and row["Δ vs scratch"] != "–"
        assert "over 2 seeds" in row["Δ vs scratch: reading"]
        assert ("not separated" in row["Δ vs scratch: reading"]) == (row["Δ vs scratch: separated"] == "False")
    assert by_strategy["random"]["Δ vs reference"] != "–" and by_strategy["tube"]["Δ vs reference"] == "–"
    # VideoMAE's "tube ≥ random" is the one finding these arms can check
    assert "The papers' findings, checked here" in text
    findings = list(csv.DictReader(open(tmp_path / "report" / "directions.csv")))
    assert [(f["paper"], f["A"], f["B"]) for f in findings] == [("VideoMAE", "strategy=tube", "strategy=random")]
    assert findings[0]["verdict"] in ("reproduced", "contradicted", "not separated")
    assert "The papers' findings this study checks:" in out.stdout
