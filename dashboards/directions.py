"""The seed papers' findings, checked on a study's own arms: each finding is "arm A ≥ arm B
(+ margin)"; every pair of the study's arms that differs only as the finding says is compared
paired on the same seeds and test clips (dashboards/paired.py) and gets a verdict:

- reproduced: the paired 95 % interval of A − B lies above the margin;
- contradicted: it lies below;
- not separated: it contains the margin (this study cannot tell).

A margin of 0 is "A is better"; a negative one is "A is not worse by more than that"
(EVAD: within 1 point; MAR: keeps ≥ 95 % of B's top-1, a margin of 5 % of B's top-1)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from dashboards.arms import CONTROL_ARM, Arm, compare

STRATEGY, RATIO = "pretrain.masking.strategy", "pretrain.masking.ratio"
CELL_RUNNING_50 = {"masking": {"strategy": "cell_running", "ratio": 0.5}}


@dataclass(frozen=True)
class Direction:
    paper: str
    finding: str                  # the paper's finding, in words
    a: dict                       # axis → value of the arm the paper finds better (or not worse)
    b: dict                       # axis → value of the arm it is compared with
    margin: float = 0.0           # points of top-1 that A − B must exceed
    margin_of_b: float = 0.0      # … or this fraction of B's top-1 (MAR's "keeps ≥ 95 %": −0.05)
    where: dict = field(default_factory=dict)   # other axes' values, where the study sweeps them


DIRECTIONS = (
    Direction("VideoMAE", "tube ≥ random masking at one ratio (0.9 where the study sweeps it)",
              {STRATEGY: "tube"}, {STRATEGY: "random"}, where={RATIO: 0.9}),
    Direction("VideoMAE", "frame masking is the worst: tube ≥ frame", {STRATEGY: "tube"}, {STRATEGY: "frame"}),
    Direction("VideoMAE", "frame masking is the worst: random ≥ frame", {STRATEGY: "random"}, {STRATEGY: "frame"}),
    Direction("VideoMAE", "mask ratio 0.9 ≥ 0.5", {RATIO: 0.9}, {RATIO: 0.5}),
    Direction("MGM", "motion-guided ≥ tube masking at an equal ratio",
              {STRATEGY: "motion_guided"}, {STRATEGY: "tube"}),
    Direction("MAM2", "RGB difference + VQ codes ≥ normalized pixels",
              {"pretrain.targets": {"rgb_diff": 1.0, "vq_codes": 1.0}}, {"pretrain.targets": {"normalized_pixel": 1.0}}),
    Direction("MAR", "cell running 50 % + bridging classifier keeps ≥ 95 % of full fine-tuning's top-1",
              {"finetune": CELL_RUNNING_50, "finetune.head": "bridging"}, {"finetune": {}, "finetune.head": "linear"},
              margin_of_b=-0.05),
    Direction("EVAD", "keep rate 0.7 within 1 point of 1.0",
              {"finetune.masking.keep_rate": 0.7}, {"finetune.masking.keep_rate": 1.0}, margin=-1.0),
)


def _same(value, wanted) -> bool:
    return str(value) == str(wanted)


def _pairs(direction: Direction, arms: list[Arm]) -> list[tuple[Arm, Arm]]:
    """(A, B) arms that match the finding's sides and agree on every other axis."""
    sides = set(direction.a) | set(direction.b)
    pairs = []
    for a in arms:
        if a.control or not all(_same(a.axes.get(k, object()), v) for k, v in direction.a.items()):
            continue
        if not all(_same(a.axes[k], v) for k, v in direction.where.items() if k in a.axes):
            continue
        for b in arms:
            if (not b.control and all(_same(b.axes.get(k, object()), v) for k, v in direction.b.items())
                    and all(_same(b.axes[k], v) for k, v in a.axes.items() if k not in sides and k in b.axes)):
                pairs.append((a, b))
    return pairs


def verdict(low: float, high: float, margin: float) -> str:
    return "reproduced" if low > margin else "contradicted" if high < margin else "not separated"


def checked_directions(arms: list[Arm], trials: pd.DataFrame) -> pd.DataFrame:
    """One row per finding and pair of arms this study can check: Δ = A − B with its paired
    interval, the margin, the verdict, and A's encoder GFLOPs over B's (fine-tuning/inference)."""
    rows = []
    for d in DIRECTIONS:
        for a, b in _pairs(d, arms):
            diff = compare(a, b)
            if diff is None:
                continue
            b_top1 = 100 * pd.concat(list(b.correct.values())).mean()
            margin = d.margin + d.margin_of_b * b_top1
            rows.append({"paper": d.paper, "finding": d.finding, "A": a.label(), "B": b.label(),
                         "Δ A − B": diff.cell(), "margin": round(margin, 1),
                         "verdict": verdict(diff.low, diff.high, margin),
                         "over": f"{diff.seeds} seeds × {diff.clips} clips, paired",
                         "GFLOPs A / B": _gflops_ratio(trials, a, b)})
    return pd.DataFrame(rows)


def _gflops_ratio(trials: pd.DataFrame, a: Arm, b: Arm) -> float | None:
    column = "model/encoder_gflops_finetune"
    if column not in trials:
        return None

    def mean(arm: Arm) -> float:
        rows = trials[trials["arm"] != CONTROL_ARM] if "arm" in trials else trials
        for axis, value in arm.axes.items():
            rows = rows[rows[axis].astype(str) == str(value)]
        return rows[column].mean()
    ratio = mean(a) / mean(b)
    return None if pd.isna(ratio) else round(float(ratio), 3)
