"""The ablation table: each combination of a study's axes, mean ± 95 % confidence interval
over its seeds for every headline metric, the number of seeds, and the best cell marked."""
from __future__ import annotations

import math

import pandas as pd

from trainables.tracking import PRETRAIN_LOSS, TEST_TOP1, VAL_TOP1

# (column, label, higher is better)
METRICS = (
    (TEST_TOP1, "test top-1 %", True),
    (VAL_TOP1, "val top-1 %", True),
    ("model/encoder_gflops_pretrain", "enc. GFLOPs (pretrain)", False),
    ("model/encoder_gflops_finetune", "enc. GFLOPs (fine-tune)", False),
    (PRETRAIN_LOSS, "pretrain loss", None),
)


def ci95(values: pd.Series) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % Student t interval over the values (seeds), n); the
    half-width is NaN for a single seed. Unpaired: the paired comparisons are dashboards/paired.py."""
    v = values.dropna()
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v.iloc[0]), math.nan, 1
    from scipy import stats
    return float(v.mean()), float(stats.t.ppf(0.975, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n), n


def ablation_table(trials: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """One row per axis combination (finished trials only); columns `<metric> mean`,
    `<metric> ci95`, `seeds`, and `best` (True on the row with the best test top-1)."""
    done = trials[trials["status"] == "FINISHED"] if "status" in trials else trials
    metrics = [(c, label, better) for c, label, better in METRICS if c in done]
    if done.empty or not metrics:
        return pd.DataFrame()
    groups = done.groupby(axes, dropna=False, sort=False) if axes else [((), done)]
    rows = []
    for keys, group in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(axes, keys))
        for column, label, _ in metrics:
            mean, half, n = ci95(group[column])
            row[f"{label} mean"], row[f"{label} ci95"] = mean, half
        row["seeds"] = int(group["seed"].nunique())
        rows.append(row)
    table = pd.DataFrame(rows)
    if axes:   # numbers in order, then words (the control's "scratch")
        table = table.sort_values(axes, key=lambda col: col.map(axis_order)).reset_index(drop=True)
    headline = next((label for c, label, better in metrics if better), None)
    table["best"] = False
    if headline and table[f"{headline} mean"].notna().any():
        table.loc[table[f"{headline} mean"].idxmax(), "best"] = True
    return table


def axis_order(value) -> tuple:
    """Sort key of an axis value: numbers by value, then any other value by its text."""
    return (0, float(value), "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0.0, str(value))


def format_cell(mean: float, half: float, digits: int) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"
