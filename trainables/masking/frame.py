"""Frame masking (VideoMAE's ablation): whole tubelet time steps masked, the others fully
visible. The ratio must be a multiple of 1/T."""
import numpy as np

from trainables.masking.registry import MaskStrategy, register


def _steps(ratio: float, t: int) -> float:
    return ratio * t


@register("frame")
class FrameMasking(MaskStrategy):
    def num_masked(self, m, grid):
        t, h, w = grid
        return round(_steps(m.ratio, t)) * h * w

    def problems(self, m, grid, depth=None):
        t = grid[0]
        steps = _steps(m.ratio, t)
        if abs(steps - round(steps)) > 1e-6 or not 0 < round(steps) < t:
            possible = ", ".join(f"{k / t:g}" for k in range(1, t))
            return [f"frame masking masks whole time steps: with {t} tubelet steps the ratio must be "
                    f"one of {possible} (got {m.ratio})"]
        return []

    def sample(self, m, grid, rng, train=True, motion=None):
        t, h, w = grid
        steps = np.zeros(t, dtype=bool)
        steps[rng.permutation(t)[: round(_steps(m.ratio, t))]] = True
        return np.repeat(steps, h * w)
