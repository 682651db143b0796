"""One Tune trial: a function trainable that runs the trial's TorchTrainer (pretraining,
then fine-tuning from the pretrained encoder) and keeps the trial's MLflow run in step.

Runs inside a Ray actor; uses ray.tune APIs here and leaves ray.train APIs to the workers."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyContext:
    """What every trial of one study execution shares (all paths absolute)."""
    study_id: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    storage_path: str
    workers_per_trial: int
    cpus_per_worker: float
    gpus_per_worker: float
    max_failures: int
    lists: dict                     # data root → {"train": path, "val": path, "test": path}


def run_trial(param: dict, study: StudyContext) -> None:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from orchestrator import tracking
    from orchestrator.study import axes_label
    from trainables.loops.entry import run_trial_worker

    trial = param["trial"]
    axes = trial["axes"]
    run_name = f"{trial['key']} {axes_label(axes)}"
    run_id, created = tracking.child_run(
        study.tracking_uri, study.experiment_id, study.parent_run_id, study.study_id, trial["trial_id"],
        run_name, tracking.flatten(trial["config"]),
        tags={"maskray.trial_key": trial["key"], **{f"maskray.axis.{k}": str(v) for k, v in axes.items()}})
    client = tracking.client(study.tracking_uri)
    if created:
        client.log_dict(run_id, trial["config"], "config/trial_config.json")

    lists = study.lists[trial["config"]["data"]["root"]]
    use_gpu = study.gpus_per_worker > 0
    trainer = TorchTrainer(
        run_trial_worker,
        train_loop_config={"trial": trial["config"], "run_id": run_id, "tracking_uri": study.tracking_uri,
                           "cpus_per_worker": study.cpus_per_worker,
                           **{f"{split}_list": path for split, path in lists.items()}},
        scaling_config=ScalingConfig(
            num_workers=study.workers_per_trial, use_gpu=use_gpu,
            resources_per_worker={"CPU": study.cpus_per_worker} | ({"GPU": study.gpus_per_worker} if use_gpu else {})),
        run_config=RunConfig(
            name=f"{study.study_id}-{trial['key']}", storage_path=study.storage_path,
            callbacks=[TuneReportCallback()],
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=study.max_failures)))
    try:
        trainer.fit()
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
