"""MAM2's motion target: the differences of consecutive frames inside each tubelet
(tubelet − 1 difference frames per token), normalized per patch and channel like
VideoMAE's pixels (MAM2's exact normalisation is not published). A still clip gives zeros."""
from __future__ import annotations

from trainables.targets.pixel import normalized_per_token, tubelet_pixels
from trainables.targets.registry import Target, register


@register("rgb_diff")
class RGBDifference(Target):
    def dim(self, tubelet, patch):
        return (tubelet - 1) * patch * patch * 3

    def problems(self, tubelet: int, patch: int) -> list[str]:
        return ["rgb_diff needs model.tubelet_size ≥ 2 (differences inside a tubelet)"] if tubelet < 2 else []

    def __call__(self, video, tubelet, patch):
        diff = video[:, :, 1:] - video[:, :, :-1]                  # (B, 3, T-1, H, W)
        b, c, _, h, w = video.shape
        keep = [i for i in range(video.shape[2] - 1) if (i + 1) % tubelet]   # pairs inside a tubelet
        diff = diff[:, :, keep]
        px = tubelet_pixels(diff, tubelet - 1, patch)            # (B, N, (τ-1)·p·p, 3)
        return normalized_per_token(px).flatten(2)
