"""Pixel targets: raw patch pixels, and VideoMAE's normalized pixels (per tubelet and per
channel: subtract the mean, divide by the unbiased std + 1e-6 over the tubelet's pixels)."""
from __future__ import annotations

from trainables.targets.registry import Target, register


def tubelet_pixels(video, tubelet: int, patch: int):
    """(B, 3, T, H, W) → (B, N, tubelet·patch·patch, 3) in (t, h, w) token order."""
    b, c, t, h, w = video.shape
    x = video.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # B, T', H', W', tubelet, p, p, C
    return x.reshape(b, -1, tubelet * patch * patch, c)


def normalized_per_token(px):
    """(B, N, P, C) → each token's P values per channel at zero mean, unit (unbiased) std."""
    return (px - px.mean(dim=-2, keepdim=True)) / (px.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)


@register("pixel")
class Pixel(Target):
    def dim(self, tubelet, patch):
        return tubelet * patch * patch * 3

    def __call__(self, video, tubelet, patch):
        px = tubelet_pixels(video, tubelet, patch)
        return px.flatten(2)


@register("normalized_pixel")
class NormalizedPixel(Target):
    def dim(self, tubelet, patch):
        return tubelet * patch * patch * 3

    def __call__(self, video, tubelet, patch):
        px = tubelet_pixels(video, tubelet, patch)
        return normalized_per_token(px).flatten(2)
