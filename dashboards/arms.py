"""Each arm of a study against the from-scratch control and against the study's reference
arm, paired on the same seeds and test clips (dashboards/paired.py), from every finished
trial's `predictions/test.csv`."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboards.ablation import axis_order
from dashboards.paired import PairedDifference, paired_difference
from trainables import tracking
from trainables.tracking import TEST_PREDICTIONS

CONTROL_ARM = "control"


@dataclass
class Arm:
    axes: dict                       # axis → value
    correct: dict[int, pd.Series]    # seed → correct (0/1) by clip
    control: bool

    def label(self) -> str:
        return "scratch (no pretraining)" if self.control else \
            " ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in self.axes.items()) or "the study's arm"


def load_arms(uri: str, trials: pd.DataFrame, axes: list[str]) -> list[Arm]:
    """The finished trials grouped into arms (one per axis combination), with each seed's
    per-clip correctness. Trials without predictions (older runs) are left out."""
    client = tracking.client(uri)
    arms: dict[tuple, Arm] = {}
    done = trials[trials["status"] == "FINISHED"] if "status" in trials else trials
    with tempfile.TemporaryDirectory() as tmp:
        for _, row in done.iterrows():
            try:
                path = client.download_artifacts(row["run_id"], TEST_PREDICTIONS, f"{tmp}/{row['run_id']}")
            except Exception:   # a run from before predictions were logged, or an unreachable store
                continue
            table = pd.read_csv(path)
            values = {a: row.get(a) for a in axes}
            control = row.get("arm") == CONTROL_ARM
            # a control trial keeps the values of fine-tuning axes: it is its own arm all the same
            key = (control, *(str(v) for v in values.values()))
            arm = arms.setdefault(key, Arm(values, {}, control))
            arm.correct[int(row["seed"])] = table.set_index("clip")["correct"].astype(int)
    return sorted(arms.values(), key=lambda a: (a.control, [axis_order(v) for v in a.axes.values()]))


def compare(a: Arm, b: Arm) -> PairedDifference | None:
    """A − B on their common seeds and the clips every one of those seeds has."""
    seeds = sorted(set(a.correct) & set(b.correct))
    if not seeds:
        return None
    clips = a.correct[seeds[0]].index
    for s in seeds:
        clips = clips.intersection(a.correct[s].index).intersection(b.correct[s].index)
    if len(clips) == 0:
        return None

    def stack(arm: Arm) -> np.ndarray:
        return np.stack([arm.correct[s].loc[clips].to_numpy() for s in seeds])
    return paired_difference(stack(a), stack(b))


def control_of(arm: Arm, arms: list[Arm], pretraining_axes: set[str]) -> Arm | None:
    """The from-scratch arm fine-tuned as `arm` is: the same values of the other axes."""
    for other in arms:
        if other.control and all(str(other.axes[a]) == str(v) for a, v in arm.axes.items()
                                 if a not in pretraining_axes):
            return other
    return None


def comparisons(arms: list[Arm], axes: list[str], reference: dict | None) -> pd.DataFrame:
    """One row per pretrained arm (`load_arms`): Δ vs its control and Δ vs the reference arm
    (points of test top-1, paired 95 % intervals), and a sentence for each."""
    pretraining_axes = {a for a in axes if a == "pretrain" or a.startswith("pretrain.")}
    ref = next((arm for arm in arms if not arm.control and reference is not None
                and all(str(arm.axes.get(a)) == str(v) for a, v in reference.items())), None)
    rows = []
    for arm in arms:
        if arm.control:
            continue
        row = {**arm.axes, "seeds": len(arm.correct)}
        control = control_of(arm, arms, pretraining_axes)
        for column, other in (("Δ vs scratch", control), ("Δ vs reference", ref)):
            d = compare(arm, other) if other is not None and other is not arm else None
            row[column] = d.cell() if d else "–"
            row[f"{column}: reading"] = d.words(arm.label(), other.label()) if d else ""
            row[f"{column}: separated"] = d.separated if d else None
        rows.append(row)
    return pd.DataFrame(rows)
