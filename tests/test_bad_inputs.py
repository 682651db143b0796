"""Mistakes a new user makes, each caught before any Ray process starts or any MLflow run is
made: exit code 2, one message naming the culprit, no traceback, within seconds."""
import os
import time
from pathlib import Path

import pytest

from tests.conftest import ONE_WORKER, free_port, maskray, two_trial_study


def ray_session() -> str | None:
    """The newest local Ray session on this machine (a study that starts Ray makes a new one)."""
    latest = Path("/tmp/ray/session_latest")
    return os.path.realpath(latest) if latest.exists() else None


def refused(tmp_path: Path, *args: str, culprit: str, limit_s: float = 20):
    """Runs `maskray ARGS` and checks it was refused the way every bad input is."""
    session = ray_session()
    started = time.monotonic()
    out = maskray(*args, cwd=tmp_path, timeout=120)
    seconds = time.monotonic() - started
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert culprit in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert seconds < limit_s, f"took {seconds:.1f} s"
    assert ray_session() == session                       # no Ray started
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "maskray_results").exists()
    return out


def study(tmp_path: Path, root: Path, text: str | None = None) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text if text is not None else two_trial_study("s", root, resources=ONE_WORKER))
    return path


def test_a_sweep_axis_given_twice_is_refused_with_its_line(synth_root, tmp_path):
    text = two_trial_study("s", synth_root, resources=ONE_WORKER).replace(
        "  finetune.base_lr: [2.0e-2, 1.0e-2]\n",
        "  finetune.base_lr: [2.0e-2, 1.0e-2]\n  finetune.base_lr: [5.0e-3]\n")
    path = study(tmp_path, synth_root, text)
    for command in ("validate", "run"):
        out = refused(tmp_path, command, str(path), culprit="key 'finetune.base_lr' is given twice")
        assert str(path) in out.stderr and "line 8" in out.stderr


def test_a_key_twice_inside_a_mapping_is_refused(synth_root, tmp_path):
    text = two_trial_study("s", synth_root, resources=ONE_WORKER).replace(
        "pretrain: {enabled: false}", "pretrain: {masking: {strategy: tube, ratio: 0.9, ratio: 0.5}}")
    refused(tmp_path, "validate", str(study(tmp_path, synth_root, text)), culprit="key 'ratio' is given twice")


@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_typo_in_the_tracking_uri_is_refused(synth_root, tmp_path, command):
    refused(tmp_path, command, str(study(tmp_path, synth_root)), "--tracking-uri", "htp://127.0.0.1:5000",
            culprit="tracking uri htp://127.0.0.1:5000: 1 problem(s)\n  - unknown scheme 'htp'")


def test_a_tracking_server_that_is_not_running_is_refused_within_seconds(synth_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--tracking-uri", uri,
            culprit=f"tracking uri {uri}", limit_s=20)


def test_validate_online_probes_the_studys_tracking_server(synth_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    text = two_trial_study("s", synth_root, resources=ONE_WORKER) + f"tracking: {{uri: '{uri}'}}\n"
    path = study(tmp_path, synth_root, text)
    assert maskray("validate", str(path)).returncode == 0      # offline: only the scheme is checked
    refused(tmp_path, "validate", "--online", str(path), culprit="the MLflow server does not answer")


def test_a_storage_path_that_cannot_be_written_is_refused(synth_root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--storage", str(blocker / "results"),
            culprit=f"storage {blocker / 'results'}")


def test_the_storage_check_leaves_no_folder_behind(tmp_path):
    from orchestrator.preflight import check_storage
    check_storage(str(tmp_path / "new" / "results"))
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    check_storage(str(tmp_path / "kept"))
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())
