"""Tube masking (VideoMAE): one spatial mask of int(ratio × H·W) positions, the same at every t."""
import numpy as np

from trainables.masking.registry import Grid, MaskStrategy, register


@register("tube")
class TubeMasking(MaskStrategy):
    def num_masked(self, ratio: float, grid: Grid) -> int:
        t, h, w = grid
        return int(ratio * h * w) * t

    def sample(self, ratio, grid, rng, train=True):
        t, h, w = grid
        spatial = np.zeros(h * w, dtype=bool)
        spatial[rng.permutation(h * w)[: int(ratio * h * w)]] = True
        return np.tile(spatial, t)
