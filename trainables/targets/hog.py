"""MaskFeat's HOG target: per RGB channel, Sobel gradients, 9 unsigned-orientation bins
weighted by magnitude, summed per cell (2 × 2 cells per patch) and L2-normalized per cell;
every frame of the tubelet contributes its own histograms."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from trainables.targets.registry import Target, register

if TYPE_CHECKING:  # torch is imported where it is used: the study spec reads this registry
    import torch

BINS = 9
CELLS_PER_SIDE = 2


def _sobel(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """frames (M, 1, H, W) → (gx, gy), same size (replicate padding)."""
    import torch
    import torch.nn.functional as F
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=frames.dtype,
                      device=frames.device)
    padded = F.pad(frames, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kx.view(1, 1, 3, 3))
    gy = F.conv2d(padded, kx.t().contiguous().view(1, 1, 3, 3))
    return gx, gy


def hog_histograms(frames: torch.Tensor, cell: int) -> torch.Tensor:
    """frames (M, H, W) → (M, BINS, H/cell, W/cell) per-cell L2-normalized histograms."""
    import torch
    import torch.nn.functional as F
    gx, gy = _sobel(frames[:, None])
    magnitude = torch.sqrt(gx ** 2 + gy ** 2)
    angle = torch.atan2(gy, gx) % math.pi                          # unsigned orientation
    bin_index = (angle / math.pi * BINS).long().clamp(max=BINS - 1)
    votes = torch.zeros(frames.shape[0], BINS, *frames.shape[1:], dtype=frames.dtype, device=frames.device)
    votes.scatter_(1, bin_index, magnitude)
    hist = F.avg_pool2d(votes, cell) * cell * cell                  # sum per cell
    return hist / (hist.norm(dim=1, keepdim=True) + 1e-6)


@register("hog")
class HOG(Target):
    def dim(self, tubelet, patch):
        return tubelet * 3 * CELLS_PER_SIDE * CELLS_PER_SIDE * BINS

    def problems(self, tubelet: int, patch: int) -> list[str]:
        return [] if patch % CELLS_PER_SIDE == 0 else [
            f"hog needs model.patch_size divisible by {CELLS_PER_SIDE} (cells per patch side)"]

    def __call__(self, video, tubelet, patch):
        b, c, t, h, w = video.shape
        cell = patch // CELLS_PER_SIDE
        hist = hog_histograms(video.reshape(b * c * t, h, w), cell)   # (B·C·T, BINS, h/cell, w/cell)
        gh, gw = h // patch, w // patch
        hist = hist.reshape(b, c, t // tubelet, tubelet, BINS, gh, CELLS_PER_SIDE, gw, CELLS_PER_SIDE)
        hist = hist.permute(0, 2, 5, 7, 3, 1, 6, 8, 4)             # B, T', gh, gw, τ, C, cy, cx, bins
        return hist.reshape(b, (t // tubelet) * gh * gw, -1)
