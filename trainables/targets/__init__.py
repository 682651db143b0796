"""Reconstruction targets, registered by name. A target maps the clip (B, 3, T, H, W) in
[0, 1] to per-token values (B, N, D) in (t, h, w) token order."""
from trainables.targets.registry import Target, get_target, register, target_names
from trainables.targets import hog, pixel, rgb_diff, vq_codes  # noqa: F401  (registers the built-ins)

__all__ = ["Target", "get_target", "register", "target_names"]
