"""A study under ASHA end to end: Tune stops trials at a rung, a trial it lets run completes
its test evaluation, and the study runs every trial and closes every MLflow run."""
import pytest

from tests.conftest import ONE_WORKER, maskray, two_trial_study

pytestmark = pytest.mark.slow

ASHA = "scheduler: {kind: asha, metric: finetune/top1, grace_period: 1, reduction_factor: 2}\n"


def test_asha_study_runs_every_trial_and_closes_their_runs(synth_root, tmp_path):
    study = tmp_path / "asha.yaml"
    # One worker per trial, in its Tune driver: the laptop studies' path. With two-worker groups
    # Ray Train V2's placement-group cleaner thread can die on a GCS-client time-out, leaving the
    # first trial's CPUs held so the second trial's group never starts (a fresh clone, 2026-12-06).
    study.write_text(two_trial_study("asha", synth_root, ASHA, resources=ONE_WORKER))
    # A trial driver whose trial Tune stopped is still inside its trainer: reusing its actor
    # for the next trial hung the study here (the timeout is what fails then).
    out = maskray("run", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=420)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]

    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("asha").experiment_id])
    parent = [r for r in runs if r.data.tags.get("maskray.role") == "study"]
    children = {r.data.tags["maskray.trial_key"]: r for r in runs if r.data.tags.get("maskray.role") == "trial"}
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert sorted(children) == ["t000", "t001"]
    first = children["t000"]   # nothing to compare with at its rungs: it runs to its last epoch
    assert first.info.status == "FINISHED" and "finetune/test_top1" in first.data.metrics
    second = children["t001"]
    if second.info.status == "KILLED":
        assert second.data.tags.get("maskray.stopped_by") == "asha"
    else:
        assert second.info.status == "FINISHED" and "finetune/test_top1" in second.data.metrics, (
            second.info.status, second.data.tags, out.stdout[-3000:])
