"""A study under ASHA end to end: Tune stops trials (at a rung, or at max_t before the trial
driver returns) and the study still runs every trial and closes every MLflow run."""
import textwrap

import pytest

from tests.conftest import maskray

pytestmark = pytest.mark.slow

STUDY = """
    name: asha
    data: {{source: lists, root: {root}, num_classes: 8, num_frames: 8, sampling_rate: 2, input_size: 32,
            loader_workers: 0}}
    model: {{preset: nano, patch_size: 8}}
    pretrain: {{enabled: false}}
    finetune: {{epochs: 3, batch_size: 4, base_lr: 2.0e-2}}
    sweep:
      finetune.base_lr: [2.0e-2, 1.0e-2]
    seeds: [0]
    scheduler: {{kind: asha, metric: finetune/top1, grace_period: 1, reduction_factor: 2}}
    resources: {{workers_per_trial: 2, cpus_per_worker: 0.99, max_concurrent_trials: 1}}
"""


def test_asha_study_runs_every_trial_and_closes_their_runs(synth_root, tmp_path):
    study = tmp_path / "asha.yaml"
    study.write_text(textwrap.dedent(STUDY.format(root=synth_root)))
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
        assert second.info.status == "FINISHED" and "finetune/test_top1" in second.data.metrics
