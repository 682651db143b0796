"""Cell running masking (MAR). The token grid is tiled by cells (default 1×2×2 in t, h, w);
in every cell k of its c positions are masked with the base pattern [masked]*k +
[visible]*(c-k) in raster order, shifted cyclically by one position per cell time step, so
within any c consecutive steps each position is visible exactly c-k times. Ratio = k/c.

Training (MAR's code): a random phase per clip and, optionally, a random order of the
per-step patterns; evaluation: phase 0, no shuffle, so it is deterministic."""
import numpy as np

from trainables.masking.registry import MaskStrategy, register


def _masked_per_cell(m) -> float:
    ct, ch, cw = m.cell
    return m.ratio * ct * ch * cw


def cell_pattern(cell: tuple[int, int, int], k: int, shift: int) -> np.ndarray:
    """bool (ct, ch, cw): the base pattern rolled `shift` places (True = masked)."""
    c = cell[0] * cell[1] * cell[2]
    base = np.arange(c) < k
    return np.roll(base, shift).reshape(cell)


@register("cell_running")
class CellRunningMasking(MaskStrategy):
    def num_masked(self, m, grid):
        t, h, w = grid
        ct, ch, cw = m.cell
        return round(_masked_per_cell(m)) * (t // ct) * (h // ch) * (w // cw)

    def problems(self, m, grid, depth=None):
        ct, ch, cw = m.cell
        c = ct * ch * cw
        out = []
        if any(g % s for g, s in zip(grid, m.cell)):
            out.append(f"cell {list(m.cell)} does not tile the token grid {list(grid)} (t, h, w)")
        k = _masked_per_cell(m)
        if c < 2 or abs(k - round(k)) > 1e-6 or not 0 < round(k) < c:
            possible = ", ".join(f"{j / c:g}" for j in range(1, c)) or "none"
            out.append(f"cell_running with a {ct}×{ch}×{cw} cell masks k of {c} positions: the ratio "
                       f"must be one of {possible} (got {m.ratio})")
        return out

    def sample(self, m, grid, rng, train=True, motion=None):
        t, h, w = grid
        ct, ch, cw = m.cell
        c = ct * ch * cw
        k = round(_masked_per_cell(m))
        steps = t // ct
        phase = int(rng.integers(c)) if train and m.random_phase else 0
        shifts = (phase + np.arange(steps)) % c
        if train and m.shuffle_time:
            shifts = rng.permutation(shifts)
        blocks = [np.tile(cell_pattern((ct, ch, cw), k, s), (1, h // ch, w // cw)) for s in shifts]
        return np.concatenate(blocks, axis=0).reshape(-1)
