"""One Tune trial: a function trainable that runs the trial's TorchTrainer (pretraining,
then fine-tuning from the pretrained encoder: trainables/loops/trial.py) and keeps the
trial's MLflow run in step.

Lifecycle, driver side: find or create the trial's child run by tags (a restored trial
reattaches to it) → take the pretraining cache's claim (reuse a published pretraining, or
own the key) → one `TorchTrainer.fit()` for both stages, or for a one-worker trial the loop
in this process (`_run_in_driver`) → FINISHED, or FAILED with the worker's `TrialFailure`
message. Runs the Tune stops first are closed by the study
(`tracking.close_study`).

Runs inside a Ray actor; uses ray.tune APIs here and leaves ray.train APIs to the workers."""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any


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
    pretrain_claims: Any = None     # the study's PretrainClaims actor; None: no pretraining reuse
    placement: str = "pack"         # a trial's workers: PACK or SPREAD over nodes
    keep_pg_cleaner: bool = True    # see lean_trainer_class: needed where Tune stops trials or nodes go
    in_driver: bool = False         # one-worker trials run in their driver, without a worker group


def run_trial(param: dict, study: StudyContext) -> None:
    from orchestrator import pretrain_cache
    from orchestrator.study import axes_label
    from trainables import tracking
    from trainables.run_logger import RunLogger

    started = time.time()
    trial = param["trial"]
    axes = trial["axes"]
    run_name = f"{trial['key']} {axes_label(axes)}"
    key = trial.get("pretrain_key")
    run, created = tracking.child_run(
        study.tracking_uri, study.experiment_id, study.parent_run_id, study.study_id, trial["trial_id"],
        run_name, tracking.flatten(trial["config"]),
        tags={tracking.TRIAL_KEY_TAG: trial["key"], **{f"{tracking.AXIS_TAG_PREFIX}{k}": str(v) for k, v in axes.items()},
              tracking.ARM_TAG: "control" if trial.get("control") else "pretrained",
              **({tracking.PRETRAIN_KEY_TAG: key} if key else {})})
    run_id = run.info.run_id
    if tracking.completed(run):
        # Tune's last snapshot of a killed study can predate this trial's end: its MLflow run
        # says it finished, so its final result goes to Tune again and nothing runs or changes.
        from ray import tune
        tune.report({**run.data.metrics, "stage": tracking.Stage.FINETUNE.value, "already_finished": 1})
        return
    client = tracking.client(study.tracking_uri)
    if created:
        client.log_dict(run_id, trial["config"], "config/trial_config.json")
    else:  # a resumed or retried trial: the same run goes on
        tracking.reopen(study.tracking_uri, run)
    reuse = {}
    if key and study.pretrain_claims is not None:
        source = pretrain_cache.acquire(study.pretrain_claims, study.tracking_uri, study.experiment_id, key,
                                        trial["trial_id"])
        if source is not None and source.info.run_id != run_id:
            client.set_tag(run_id, tracking.PRETRAIN_REUSED_TAG, source.info.run_id)
            reuse = {"pretrained_run": source.info.run_id,
                     "pretrained_by": source.data.tags.get(tracking.TRIAL_KEY_TAG, source.info.run_id)}
        else:
            reuse = {"pretrain_key": key}

    lists = study.lists[trial["config"]["data"]["root"]]
    loop_config = {"trial": trial["config"], "run_id": run_id, "tracking_uri": study.tracking_uri,
                   "cpus_per_worker": study.cpus_per_worker, **reuse, "driver_started_at": started,
                   **({"tokenizer_dir": trial["tokenizer_dir"]} if trial.get("tokenizer_dir") else {}),
                   **{f"{split}_list": path for split, path in lists.items()}}
    timeline = {"timeline/driver_ready_s": time.time() - started}
    try:
        failure = _run_in_driver(loop_config) if study.in_driver else _run_worker_group(loop_config, study, trial["key"])
        if failure:
            raise RuntimeError(f"trial {trial['key']}: {failure}")
    except SystemExit:
        # Tune stopped this trial (ASHA, Ctrl-C) inside its report. Tune can return from fit()
        # and the study close this run before this thread gets here: the study's close decides.
        raise
    except BaseException as e:
        if client.get_run(run_id).info.status == "RUNNING":   # not closed by the study already
            client.set_tag(run_id, tracking.END_REASON_TAG, f"{type(e).__name__}: {e}"[:5000])
            client.set_terminated(run_id, "FAILED")
        raise
    finally:
        if key:
            pretrain_cache.release(study.pretrain_claims, key, trial["trial_id"])
    timeline["timeline/run_closed_s"] = time.time() - started
    RunLogger(study.tracking_uri, run_id).metrics(timeline, step=0)
    client.set_terminated(run_id, "FINISHED")


def _run_in_driver(loop_config: dict) -> str | None:
    """A one-worker trial in this process: no worker group to start (trainables/loops/session.py)."""
    from trainables.loops.session import DriverSession
    from trainables.loops.trial import run_trial_worker
    return run_trial_worker(loop_config, DriverSession())


def _run_worker_group(loop_config: dict, study: StudyContext, trial_key: str) -> str | None:
    """The trial on a Ray Train worker group. → its TrialFailure message, or None."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.tune.integration.ray_train import TuneReportCallback

    from trainables import tracking
    from trainables.loops.trial import run_trial_worker

    use_gpu = study.gpus_per_worker > 0
    _keep_report_queue()
    trainer = lean_trainer_class()(
        run_trial_worker, keep_cleaner=study.keep_pg_cleaner,
        train_loop_config={**loop_config, "submitted_at": time.time()},  # → timing/worker_group_start_s
        scaling_config=ScalingConfig(
            num_workers=study.workers_per_trial, use_gpu=use_gpu, placement_strategy=study.placement.upper(),
            resources_per_worker={"CPU": study.cpus_per_worker} | ({"GPU": study.gpus_per_worker} if use_gpu else {})),
        run_config=RunConfig(
            name=f"{study.study_id}-{trial_key}", storage_path=study.storage_path,
            callbacks=[TuneReportCallback()],
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=study.max_failures)))
    return (trainer.fit().metrics or {}).get(tracking.TRIAL_ERROR)


_report_queue = None


def _keep_report_queue() -> None:
    """TuneReportCallback hands each result to Tune through a queue actor that Tune makes per
    trial: a process to start (≈ 2.7 CPU-s here) for every trial. A trial driver that Tune
    reuses from trial to trial (FIFO studies) keeps one for all its trials; what a trial that
    ended early left in it is dropped first. Uses a private attribute of Tune's session
    (checked with ray 2.60); MASKRAY_FRESH_REPORT_QUEUE=1 restores one queue per trial (the
    orchestration benchmark measures both)."""
    global _report_queue
    if os.environ.get("MASKRAY_FRESH_REPORT_QUEUE") == "1":
        return
    from ray.train._internal.session import get_session
    session = get_session()
    if session is None or not hasattr(session, "_inter_actor_queue"):
        return
    if _report_queue is None:
        _report_queue = session._get_or_create_inter_actor_queue()
        return
    while not _report_queue.empty():
        _report_queue.get_nowait()
    session._inter_actor_queue = _report_queue


@functools.cache
def lean_trainer_class():
    """Ray Train's TorchTrainer without the helper actors a maskray trial does not use (the
    class is made on first use: ray.train.torch imports torch, which the study's own driver
    process does not need).

    Every Train run starts a controller, a synchronization actor and its workers, a detached
    `PlacementGroupCleaner`, and a `DatasetManager` actor for Ray Data inputs. Each is a fresh
    Python process (seconds of CPU on a small machine: a bare Ray actor alone is ≈ 3 s here).
    maskray reads videos with its own loaders, so the `DatasetManager` is never needed. The
    cleaner frees the run's placement group when its controller dies without cleaning up, which
    happens when Tune stops a trial early (ASHA) or a trial's node is lost: it is kept for those
    studies (`keep_cleaner`). It also polls Ray's state API every second for its whole run."""
    from ray.train.torch import TorchTrainer

    class LeanTorchTrainer(TorchTrainer):
        def __init__(self, *args, keep_cleaner: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self._dropped = {"DatasetsCallback"} | (set() if keep_cleaner else {"PlacementGroupCleanerCallback"})

        def _create_default_callbacks(self):
            # A private hook of Ray Train V2 (checked with ray 2.60): a Ray without it keeps them all.
            callbacks = super()._create_default_callbacks()
            return [c for c in callbacks if type(c).__name__ not in self._dropped]

    return LeanTorchTrainer
