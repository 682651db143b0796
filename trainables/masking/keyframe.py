"""Keyframe-centric token dropout (EVAD), registered beside the input masks so a study
sweeps it the same way. Nothing is masked at the input: inside the encoder, at the
`drop_layers` blocks, the non-keyframe tokens are scored by the attention they receive and
the top ones kept (trainables.models.token_dropout). Fine-tuning and evaluation only."""
import math

import numpy as np

from trainables.masking.registry import MaskStrategy, register

DEFAULT_DEPTH_FRACTIONS = (1 / 3, 7 / 12, 5 / 6)  # EVAD's ViT-B blocks 4, 7, 10 of 12


def drop_layers(m, depth: int) -> list[int]:
    """1-based block numbers after whose attention tokens are dropped."""
    if m.drop_layers is not None:
        return sorted(m.drop_layers)
    return sorted({min(depth, max(1, round(depth * f))) for f in DEFAULT_DEPTH_FRACTIONS})


def kept_after(n_tokens: int, n_key: int, keep_rate: float, layers: int) -> list[int]:
    """Token counts after each dropping layer: ceil(keep_rate × current), never below the keyframe."""
    counts, n = [], n_tokens
    for _ in range(layers):
        n = max(n_key, math.ceil(keep_rate * n))
        counts.append(n)
    return counts


@register("keyframe")
class KeyframeTokenDropout(MaskStrategy):
    in_encoder = True

    def num_masked(self, m, grid):
        return 0

    def problems(self, m, grid, depth: int | None = None):
        out = []
        if not 0 < m.keep_rate <= 1:
            out.append(f"keep_rate must be in (0, 1] (got {m.keep_rate})")
        if depth is not None:
            bad = [layer for layer in (m.drop_layers or []) if not 1 <= layer <= depth]
            if bad:
                out.append(f"drop_layers {bad} are outside the encoder's blocks 1..{depth}")
        return out

    def sample(self, m, grid, rng, train=True, motion=None):
        return np.zeros(grid[0] * grid[1] * grid[2], dtype=bool)
