"""maskray's MLflow schema, in one place: the tags and main metric names every plane reads
and writes, the stages of a trial, and the functions that open, find and close runs.

Layout: one experiment per study, one parent run per execution (`maskray.role=study`), one
child run per trial (`maskray.role=trial`), found or created by tags so a restored trial
reattaches to its run. It sits in the data plane because rank 0 logs to the same runs; it
imports nothing of maskray and MLflow only inside the functions that use it."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any


class Stage(StrEnum):
    """Where a trial is; also the prefix of its stage's metrics (`pretrain/loss`)."""
    PRETRAIN = "pretrain"
    PRETRAIN_REUSED = "pretrain_reused"   # another trial's published pretraining, replayed
    FINETUNE = "finetune"
    FAILED = "failed"                     # a failure a restart would repeat (see trainables/loops/trial.py)


# Tags. MLflow's own, then maskray's.
PARENT_TAG = "mlflow.parentRunId"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"    # on each study's experiment: what MLflow's UI shows first
EXPERIMENT_KIND = "custom_model_development"
ROLE_TAG = "maskray.role"                      # "study" (parent) or "trial" (child)
STUDY_TAG = "maskray.study_id"                 # the execution: <study name>-<start time>
STUDY_HASH_TAG = "maskray.study_hash"          # what `maskray resume` must match (parent)
STORAGE_TAG = "maskray.storage"                # the execution's Ray storage path (parent)
TRIAL_TAG = "maskray.trial_id"                 # content hash of the resolved trial config
TRIAL_KEY_TAG = "maskray.trial_key"            # t000, t001, ... in the study's order
AXIS_TAG_PREFIX = "maskray.axis."              # maskray.axis.<swept path> = value (and seed)
ARM_TAG = "maskray.arm"                        # "control" on the study's from-scratch trials, else "pretrained"
REFERENCE_TAG = "maskray.reference"            # the study's reference arm, JSON axis → value (parent)
WORKER_NODES_TAG = "maskray.worker_nodes"      # each rank's Ray node id
STOPPED_BY_TAG = "maskray.stopped_by"          # "asha" on trials ASHA stopped
END_REASON_TAG = "maskray.end_reason"          # why a run ended FAILED or KILLED, in words
PRETRAIN_KEY_TAG = "maskray.pretrain_key"      # the pretraining cache key of the trial
PRETRAIN_DONE_TAG = "maskray.pretrain_done"    # "1" once its pretraining is published
PRETRAIN_REUSED_TAG = "maskray.pretrain_reused_from"   # the run whose pretraining it reused

# The main metrics. Tune sees the same names in each reported result.
VAL_TOP1 = "finetune/top1"          # validation top-1 of the epoch (%), what schedulers watch
VAL_TOP5 = "finetune/top5"
TEST_TOP1 = "finetune/test_top1"    # the test split, once at the end: a trial that has it completed
TEST_TOP5 = "finetune/test_top5"
PRETRAIN_LOSS = "pretrain/loss"
FINETUNE_LOSS = "finetune/loss"
KNN_TOP1 = "pretrain/knn_top1"    # also at step 0: the encoder at its random initialisation
LINEAR_TOP1 = "pretrain/linear_top1"  # likewise; time-ordered features (trainables/loops/probes.py)
KNN_MOTION_TOP1 = "pretrain/knn_motion_top1"  # likewise; k-NN on feature changes between time steps
PRETRAIN_LOSS_FLOOR = "pretrain/loss_floor"   # the loss of predicting zero (uniform codes) on the same tokens
WORKER_GROUP_START = "timing/worker_group_start_s"
TRIAL_ERROR = "trial_error"         # in a reported result: the TrialFailure that ends the trial

TEST_PREDICTIONS = "predictions/test.csv"     # artifact: clip, label, prediction, correct, top5
MASK_FOLDER = "masks"                         # artifacts: each stage's mask picture
RECONSTRUCTION_FOLDER = "reconstructions"     # artifact: what the pretrained model reconstructs

# Metrics a scheduler or a search may optimise → their direction.
SCHEDULER_METRICS = {VAL_TOP1: "max", VAL_TOP5: "max", FINETUNE_LOSS: "min", "finetune/val_loss": "min",
                     PRETRAIN_LOSS: "min", KNN_TOP1: "max", LINEAR_TOP1: "max",
                     KNN_MOTION_TOP1: "max"}


def absolute_uri(uri: str) -> str:
    """sqlite:///relative.db → sqlite:////abs/relative.db, so every process finds the same store."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    if "://" not in uri:
        return str(Path(uri).resolve())
    return uri


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, path + ".")
        else:
            out[path] = value
    return out


def client(uri: str):
    from mlflow.tracking import MlflowClient
    return MlflowClient(uri)


def ensure_experiment(uri: str, name: str, artifact_location: str | None) -> str:
    """The study's experiment, made on first use, marked as model training so MLflow's UI
    opens it on its runs table rather than on its GenAI overview."""
    c = client(uri)
    found = c.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            c.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id
    location = Path(artifact_location).resolve().as_uri() if artifact_location and is_local_store(uri) else None
    return c.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})


def ui_url(server: str, experiment_id: str) -> str:
    """The page of a study's experiment in MLflow's UI at `server` (http://host:port), on the
    Model training view: the UI keeps its GenAI / Model training switch in the browser and
    starts on GenAI, whatever the experiment's kind; this query parameter sets it."""
    return f"{server.rstrip('/')}/#/experiments/{experiment_id}?workflowType=machine_learning"


def _find(uri: str, experiment_id: str, tags: dict[str, str]):
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client(uri).search_runs([experiment_id], filter_string=query, max_results=2,
                                   order_by=["attributes.start_time ASC"])
    return runs[0] if runs else None


def parent_run(uri: str, experiment_id: str, study_id: str, run_name: str, params: dict) -> str:
    found = _find(uri, experiment_id, {STUDY_TAG: study_id, ROLE_TAG: "study"})
    if found is not None:
        return found.info.run_id
    c = client(uri)
    run = c.create_run(experiment_id, run_name=run_name, tags={STUDY_TAG: study_id, ROLE_TAG: "study"})
    _log_params(c, run.info.run_id, params)
    return run.info.run_id


def study_executions(uri: str, experiment_id: str, study_id: str | None = None, max_results: int = 1000) -> list:
    """The parent runs of a study's executions, newest first (only `study_id`'s when given)."""
    query = f"tags.`{ROLE_TAG}` = 'study'" + (f" and tags.`{STUDY_TAG}` = '{study_id}'" if study_id else "")
    return client(uri).search_runs([experiment_id], filter_string=query, max_results=max_results,
                                   order_by=["attributes.start_time DESC"])


def child_run(uri: str, experiment_id: str, parent_id: str, study_id: str, trial_id: str,
              run_name: str, params: dict, tags: dict[str, str]) -> tuple[Any, bool]:
    """(run, created): the trial's run under the parent, made only if it does not exist."""
    found = _find(uri, experiment_id, {STUDY_TAG: study_id, TRIAL_TAG: trial_id})
    if found is not None:
        return found, False
    c = client(uri)
    run = c.create_run(experiment_id, run_name=run_name, tags={
        PARENT_TAG: parent_id, STUDY_TAG: study_id, TRIAL_TAG: trial_id, ROLE_TAG: "trial", **tags})
    _log_params(c, run.info.run_id, params)
    return run, True


def completed(run) -> bool:
    """A trial's run that has its final result: nothing of it is run again."""
    return run.info.status == "FINISHED" and TEST_TOP1 in run.data.metrics


def child_runs(uri: str, experiment_id: str, study_id: str, status: str | None = None) -> list:
    query = f"tags.`{STUDY_TAG}` = '{study_id}' and tags.`{ROLE_TAG}` = 'trial'"
    if status:
        query += f" and attributes.status = '{status}'"
    return client(uri).search_runs([experiment_id], filter_string=query, max_results=10000)


def close_study(uri: str, experiment_id: str, study_id: str, parent_id: str,
                outcomes: dict[str, tuple[bool, bool]], asha: bool) -> None:
    """Closes the runs Tune stopped before their drivers did (ASHA, Ctrl-C) and the parent.
    `outcomes`: trial key → (ended without error, completed) as Tune saw it. A completed trial's
    run is FINISHED (ASHA may stop a trial at its last epoch), any other KILLED. A driver can
    see its trainer die as Tune stops it (Tune removes the trial's placement group, the Train
    controller's with it) and mark its run FAILED: Tune's outcome, without an error, decides.
    The parent is FINISHED when every trial is; FAILED when a trial failed; else KILLED (the
    study was interrupted: `maskray resume` continues it), with the reason as a tag."""
    c = client(uri)
    for run in child_runs(uri, experiment_id, study_id):
        no_error, completed = outcomes.get(run.data.tags.get(TRIAL_KEY_TAG), (False, False))
        if not (run.info.status == "RUNNING" or (run.info.status == "FAILED" and no_error)):
            continue
        if no_error and completed:
            c.set_terminated(run.info.run_id, "FINISHED")
            continue
        if asha and no_error:
            c.set_tag(run.info.run_id, STOPPED_BY_TAG, "asha")
        else:
            c.set_tag(run.info.run_id, END_REASON_TAG, "the study was interrupted before this trial finished")
        c.set_terminated(run.info.run_id, "KILLED")
    failed = sorted(key for key, (no_error, _) in outcomes.items() if not no_error)
    unfinished = sorted(key for key, (no_error, completed) in outcomes.items()
                        if no_error and not completed and not asha)
    if failed:
        end_study(uri, experiment_id, study_id, parent_id, "FAILED",
                  f"{len(failed)} trial(s) failed: {', '.join(failed)}")
    elif unfinished:
        end_study(uri, experiment_id, study_id, parent_id, "KILLED",
                  f"interrupted with {len(unfinished)} trial(s) unfinished: {', '.join(unfinished)}")
    else:
        c.set_terminated(parent_id, "FINISHED")


def reopen(uri: str, run) -> None:
    """A resumed run goes on: RUNNING again, without the reason it stopped."""
    c = client(uri)
    c.update_run(run.info.run_id, status="RUNNING")
    if END_REASON_TAG in run.data.tags:
        c.delete_tag(run.info.run_id, END_REASON_TAG)


def end_study(uri: str, experiment_id: str, study_id: str, parent_id: str, status: str, reason: str) -> None:
    """Ends the parent run and every child still RUNNING as `status` (FAILED or KILLED), each
    with `reason` as its END_REASON_TAG: nothing of an execution stays RUNNING after maskray
    stops, and `maskray resume` finds it (it continues any execution not FINISHED)."""
    c = client(uri)
    for run in child_runs(uri, experiment_id, study_id, status="RUNNING"):
        c.set_tag(run.info.run_id, END_REASON_TAG, reason)
        c.set_terminated(run.info.run_id, status)
    c.set_tag(parent_id, END_REASON_TAG, reason)
    c.set_terminated(parent_id, status)


def _log_params(c, run_id: str, params: dict) -> None:
    from mlflow.entities import Param
    items = [Param(k, str(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):  # MLflow's per-request limit
        c.log_batch(run_id, params=items[i:i + 100])
