"""Random masking: int(ratio × N) tokens masked uniformly over the whole (t, h, w) grid."""
import numpy as np

from trainables.masking.registry import Grid, MaskStrategy, register


@register("random")
class RandomMasking(MaskStrategy):
    def num_masked(self, ratio: float, grid: Grid) -> int:
        return int(ratio * grid[0] * grid[1] * grid[2])

    def sample(self, ratio, grid, rng, train=True):
        n = grid[0] * grid[1] * grid[2]
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[: self.num_masked(ratio, grid)]] = True
        return mask
