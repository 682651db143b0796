"""Where each trial's time went, from its timeline (`timeline/<event>_s`: seconds since its
trial driver started, logged by the driver and by rank 0)."""
from __future__ import annotations

import math

import pandas as pd

PREFIX = "timeline/"
# phase → (from event, to event); None: from the driver's start
PHASES = (("driver: run opened, cache claim", None, "driver_ready"),
          ("start-up: worker group or imports", "driver_ready", "worker_ready"),
          ("to the first step: data, model, FLOPs", "worker_ready", "first_step"),
          ("training (both stages, val each epoch)", "first_step", "finetune_end"),
          ("test split", "finetune_end", "test_done"),
          ("last report, weights", "test_done", "weights_logged"),
          ("closing: worker group down, run closed", "weights_logged", "run_closed"))


def events(metrics) -> dict[str, float]:
    """event → seconds, from a run's metrics (a dict or a row of the trials table)."""
    out = {k[len(PREFIX):-2]: float(v) for k, v in dict(metrics).items()
           if isinstance(k, str) and k.startswith(PREFIX) and v is not None and not pd.isna(v)}
    out["first_step"] = out.get("pretrain_first_step", out.get("finetune_first_step", math.nan))
    return out


def phase_seconds(metrics) -> dict[str, float]:
    """phase → seconds (NaN where the trial lacks one of its events)."""
    e = events(metrics)
    return {label: e.get(end, math.nan) - (e.get(start, math.nan) if start else 0.0)
            for label, start, end in PHASES}


def timeline_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial that logged a timeline: each phase's seconds and the total."""
    rows = []
    for _, row in trials.iterrows():
        e = events(row)
        if "run_closed" not in e:
            continue
        rows.append({"trial": row["key"], **phase_seconds(row), "total": e["run_closed"]})
    return pd.DataFrame(rows).round(3)
