"""A name → strategy registry, like timm's register_model."""
from __future__ import annotations

import numpy as np

from trainables.registry import Registry

Grid = tuple[int, int, int]  # (T tubelets, H, W) tokens


class MaskStrategy:
    """Base class: subclasses implement `num_masked` and `sample`."""

    name: str = ""

    def ratio_error(self, ratio: float, grid: Grid) -> str | None:
        """A message when this strategy cannot give `ratio` on `grid`, else None."""
        n = self.num_masked(ratio, grid)
        if n <= 0 or n >= grid[0] * grid[1] * grid[2]:
            return (f"ratio {ratio} masks {n} of {grid[0] * grid[1] * grid[2]} tokens on grid "
                    f"{list(grid)}; at least one token must be masked and one visible")
        return None

    def num_masked(self, ratio: float, grid: Grid) -> int:
        raise NotImplementedError

    def sample(self, ratio: float, grid: Grid, rng: np.random.Generator, train: bool = True) -> np.ndarray:
        raise NotImplementedError


_STRATEGIES: Registry[MaskStrategy] = Registry("masking strategy")
register = _STRATEGIES.register
get_strategy = _STRATEGIES.get
strategy_names = _STRATEGIES.names
