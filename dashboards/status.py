"""`maskray status`: where a study execution stands, read from MLflow (works while it runs,
from any machine that reaches the tracking store)."""
from __future__ import annotations

import time

import pandas as pd

from dashboards.study_runs import StudyRuns, load
from trainables import tracking
from trainables.tracking import PRETRAIN_LOSS, TEST_TOP1, VAL_TOP1, Stage

STATES = {"SCHEDULED": "pending", "RUNNING": "running", "FINISHED": "done", "FAILED": "failed",
          "KILLED": "stopped"}


def _progress(client, row: pd.Series, cfg_epochs: dict) -> tuple[str, str]:
    """(stage, 'epoch i/n') of a trial from its latest metric steps."""
    for stage, metric in ((Stage.FINETUNE, VAL_TOP1), (Stage.PRETRAIN, PRETRAIN_LOSS)):
        if metric in row and not pd.isna(row[metric]):
            steps = [m.step for m in client.get_metric_history(row["run_id"], metric)]
            total = cfg_epochs.get(f"{stage}.epochs")
            return stage, f"{max(steps)}/{total}" if total else str(max(steps))
    return "starting", "-"


def summary(uri: str, experiment: str, study_id: str | None = None) -> str:
    runs: StudyRuns = load(uri, experiment, study_id, with_histories=False)
    client = tracking.client(uri)
    parent = client.get_run(runs.parent_run_id)
    planned = int(parent.data.params.get("study.trials", len(runs.trials)))
    trials = runs.trials
    counts = {state: 0 for state in ("pending", "running", "done", "failed", "stopped")}
    lines = []
    for _, row in trials.iterrows():
        state = STATES.get(row["status"], row["status"].lower())
        counts[state] = counts.get(state, 0) + 1
        epochs = {k: row.get(k) for k in ("pretrain.epochs", "finetune.epochs")}
        stage, epoch = _progress(client, row, epochs)
        top1 = row.get(VAL_TOP1)
        axes = " ".join(f"{a.rsplit('.', 1)[-1]}={row.get(a)}" for a in runs.axes)
        lines.append(f"  {row['key']:5s} {state:8s} {stage:9s} epoch {epoch:7s} "
                     f"val top-1 {'-' if pd.isna(top1) else f'{top1:5.1f}%'}  {axes} seed={row.get('seed')}")
    counts["pending"] += max(0, planned - len(trials))
    done = trials[trials["status"] == "FINISHED"]
    head = [f"study {runs.study_id} ({parent.info.status.lower()}): {planned} trials — "
            + ", ".join(f"{v} {k}" for k, v in counts.items() if v)]
    if TEST_TOP1 in done and not done.empty:
        best = done.loc[done[TEST_TOP1].idxmax()]
        head.append(f"best so far: {best['key']} test top-1 {best[TEST_TOP1]:.1f}%")
    remaining = counts["pending"] + counts["running"]
    if remaining and not done.empty:
        per_trial = done["wall_s"].mean()
        elapsed = time.time() - parent.info.start_time / 1000
        rate = len(done) / max(elapsed, 1)            # trials finished per second so far
        head.append(f"ETA ≈ {remaining / rate / 60:.0f} min ({len(done)} done in {elapsed / 60:.0f} min; "
                    f"{per_trial / 60:.1f} min per trial)")
    return "\n".join(head + lines)
