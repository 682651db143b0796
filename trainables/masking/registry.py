"""A name → strategy registry, like timm's register_model."""
from __future__ import annotations

from typing import Any

import numpy as np

from trainables.registry import Registry

Grid = tuple[int, int, int]  # (T tubelets, H, W) tokens


class MaskStrategy:
    """Base class. `m` is the masking section of the study (`orchestrator.spec.MaskingConfig`):
    the strategy reads the ratio and its own options from it. Subclasses implement
    `num_masked` and `sample`; `problems` adds checks of their own options."""

    name: str = ""
    in_encoder = False    # drops tokens inside the encoder instead of masking the input
    needs_motion = False  # `sample` takes the clip's per-token motion (trainables.data.motion)

    def problems(self, m: Any, grid: Grid, depth: int | None = None) -> list[str]:
        """What this strategy cannot do with `m` on `grid` with an encoder of `depth` blocks."""
        n, total = self.num_masked(m, grid), grid[0] * grid[1] * grid[2]
        if n <= 0 or n >= total:
            return [f"ratio {m.ratio} masks {n} of {total} tokens on grid {list(grid)}; "
                    f"at least one token must be masked and one visible"]
        return []

    def num_masked(self, m: Any, grid: Grid) -> int:
        raise NotImplementedError

    def sample(self, m: Any, grid: Grid, rng: np.random.Generator, train: bool = True,
               motion: Any = None) -> np.ndarray:
        raise NotImplementedError


_STRATEGIES: Registry[MaskStrategy] = Registry("masking strategy")
register = _STRATEGIES.register
get_strategy = _STRATEGIES.get
strategy_names = _STRATEGIES.names
