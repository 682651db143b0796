"""Random masking: int(ratio × N) tokens masked uniformly over the whole (t, h, w) grid."""
import numpy as np

from trainables.masking.registry import MaskStrategy, register


@register("random")
class RandomMasking(MaskStrategy):
    def num_masked(self, m, grid):
        return int(m.ratio * grid[0] * grid[1] * grid[2])

    def sample(self, m, grid, rng, train=True, motion=None):
        n = grid[0] * grid[1] * grid[2]
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[: self.num_masked(m, grid)]] = True
        return mask
