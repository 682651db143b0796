"""A study's runs, read back from MLflow into pandas: one row per trial with its axes,
status and final metrics, plus the per-epoch histories for training curves."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from orchestrator.errors import UserInputError
from trainables import tracking
from trainables.tracking import (ARM_TAG, AXIS_TAG_PREFIX, FINETUNE_LOSS, PRETRAIN_LOSS, PRETRAIN_LOSS_FLOOR,
                                 TRIAL_KEY_TAG, VAL_TOP1)

CURVES = (PRETRAIN_LOSS, FINETUNE_LOSS, VAL_TOP1)
HISTORIES = (*CURVES, PRETRAIN_LOSS_FLOOR)     # the floor is drawn under the pretraining loss


@dataclass
class StudyRuns:
    experiment_id: str
    study_id: str
    parent_run_id: str
    trials: pd.DataFrame          # one row per trial; columns: key, run_id, status, axes…, metrics…
    axes: list[str]               # axis names without the seed, in study order
    histories: dict[str, pd.DataFrame]   # run_id → long frame (metric, step, value)
    reference: dict | None = None        # the study's reference arm (axis → value), if it names one


def load(uri: str, experiment: str, study_id: str | None = None, with_histories: bool = True) -> StudyRuns:
    """The latest execution of study `experiment` (or the one named `study_id`)."""
    client = tracking.client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        raise UserInputError("study", [f"no MLflow experiment named {experiment!r} in {uri} "
                                       f"(known: {', '.join(names) or 'none'})"])
    parents = tracking.study_executions(uri, exp.experiment_id, study_id, max_results=1)
    if not parents:
        raise UserInputError("study", [f"no execution {study_id!r} of study {experiment!r} in {uri}"
                                       if study_id else f"study {experiment!r} has no execution in {uri}"])
    parent = parents[0]
    sid = parent.data.tags[tracking.STUDY_TAG]
    runs = tracking.child_runs(uri, exp.experiment_id, sid)
    rows, axes = [], []
    for run in runs:
        row = {"key": run.data.tags.get(TRIAL_KEY_TAG, run.info.run_name), "run_id": run.info.run_id,
               "arm": run.data.tags.get(ARM_TAG, "pretrained"),
               "status": run.info.status, "run_name": run.info.run_name,
               "wall_s": ((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000}
        for tag, value in run.data.tags.items():
            if tag.startswith(AXIS_TAG_PREFIX):
                axis = tag[len(AXIS_TAG_PREFIX):]
                row[axis] = _number(value)
                if axis != "seed" and axis not in axes:
                    axes.append(axis)
        row |= run.data.metrics
        row |= {k: _number(v) for k, v in run.data.params.items() if k not in row}
        rows.append(row)
    trials = pd.DataFrame(rows).sort_values("key").reset_index(drop=True) if rows else pd.DataFrame(
        columns=["key", "run_id", "status"])
    if "seed" not in trials:
        trials["seed"] = 0
    histories = {}
    if with_histories:
        for run_id in trials["run_id"]:
            histories[run_id] = pd.DataFrame(
                [(name, m.step, m.value) for name in HISTORIES for m in client.get_metric_history(run_id, name)],
                columns=["metric", "step", "value"])
    reference = parent.data.tags.get(tracking.REFERENCE_TAG)
    return StudyRuns(exp.experiment_id, sid, parent.info.run_id, trials, sorted(axes), histories,
                     json.loads(reference) if reference else None)


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
