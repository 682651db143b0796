"""Tube masking (VideoMAE): one spatial mask of int(ratio × H·W) positions, the same at every t."""
import numpy as np

from trainables.masking.registry import MaskStrategy, register


@register("tube")
class TubeMasking(MaskStrategy):
    def num_masked(self, m, grid):
        t, h, w = grid
        return int(m.ratio * h * w) * t

    def sample(self, m, grid, rng, train=True, motion=None):
        t, h, w = grid
        spatial = np.zeros(h * w, dtype=bool)
        spatial[rng.permutation(h * w)[: int(m.ratio * h * w)]] = True
        return np.tile(spatial, t)
