"""A name → strategy registry, like timm's register_model."""
from __future__ import annotations

from typing import Callable

import numpy as np

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


_REGISTRY: dict[str, MaskStrategy] = {}


def register(name: str) -> Callable[[type[MaskStrategy]], type[MaskStrategy]]:
    def add(cls: type[MaskStrategy]) -> type[MaskStrategy]:
        if name in _REGISTRY:
            raise ValueError(f"masking strategy {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls()
        return cls
    return add


def get_strategy(name: str) -> MaskStrategy:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown masking strategy {name!r}; known: {', '.join(strategy_names())}") from None


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)
