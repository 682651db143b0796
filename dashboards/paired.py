"""Paired comparisons of two arms of a study on the same test clips and the same seeds.

An arm's result on a seed is a correctness vector over the test split's clips (from the
trial's `predictions/test.csv`). Two arms are compared seed by seed and clip by clip, so the
clips' difficulty and the seed's luck cancel: Δ = mean over seeds and clips of
(correct_A − correct_B), in points of top-1.

- The interval is a paired bootstrap over seeds and clips (both resampled with replacement,
  the same draw for both arms): 95 %, percentile. With one seed it is over clips only.
- With one seed, McNemar's exact test on the discordant clips (a binomial test, scipy) says
  how surprising the split of disagreements would be if the arms were equally good.
- "Separated" means the interval excludes 0. Not separated is an answer too: the arms differ
  by less than this study can resolve."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 10000


@dataclass(frozen=True)
class PairedDifference:
    delta: float            # points of top-1, A − B
    low: float              # 95 % paired bootstrap interval
    high: float
    seeds: int
    clips: int
    mcnemar_p: float | None  # one seed only

    @property
    def separated(self) -> bool:
        return self.low > 0 or self.high < 0

    def cell(self) -> str:
        return f"{self.delta:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"

    def words(self, a: str, b: str) -> str:
        over = (f"{self.seeds} seeds × {self.clips} clips" if self.seeds > 1 else f"{self.clips} clips, one seed")
        if not self.separated:
            verdict = f"not separated from 0: {a} and {b} differ by less than this study resolves"
        else:
            verdict = f"{a} {'better' if self.delta > 0 else 'worse'} than {b}, separated from 0"
        extra = f"; McNemar p = {self.mcnemar_p:.3g}" if self.mcnemar_p is not None else ""
        return (f"{a} − {b}: {self.cell()} points (paired bootstrap 95 % interval over {over}{extra}) — "
                f"{verdict}")


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, seed: int = 0) -> PairedDifference:
    """`correct_*`: (seeds, clips) booleans, rows and columns aligned (same seed, same clip)."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired arms need the same (seeds, clips) shape, got {a.shape} and {b.shape}")
    d = (a - b) * 100
    n_seeds, n_clips = d.shape
    p = None
    if n_seeds == 1:
        # over clips: scipy's bootstrap of the mean per-clip difference (the pairs stay together)
        from scipy.stats import binomtest, bootstrap
        ci = bootstrap((d[0],), np.mean, n_resamples=BOOTSTRAP_SAMPLES, method="percentile",
                       random_state=np.random.default_rng(seed)).confidence_interval
        low, high = ci.low, ci.high
        a_only = int(((a[0] == 1) & (b[0] == 0)).sum())
        b_only = int(((a[0] == 0) & (b[0] == 1)).sum())
        p = float(binomtest(a_only, a_only + b_only, 0.5).pvalue) if a_only + b_only else 1.0
    else:
        # over seeds and clips: a two-level bootstrap (scipy's resamples one level), seeds then clips
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, n_seeds, size=(BOOTSTRAP_SAMPLES, n_seeds))
        cols = rng.integers(0, n_clips, size=(BOOTSTRAP_SAMPLES, n_clips))
        means = np.array([d[rows[i]][:, cols[i]].mean() for i in range(BOOTSTRAP_SAMPLES)])
        low, high = np.percentile(means, [2.5, 97.5])
    if np.isnan(low):          # every resample equal (identical arms): the interval is the point
        low = high = float(d.mean())
    return PairedDifference(float(d.mean()), float(low), float(high), n_seeds, n_clips, p)
