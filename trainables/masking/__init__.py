"""Masking strategies, registered by name.

Convention: a mask is a boolean numpy array of shape (T*H*W,), True = masked, over the
token grid flattened in (t, h, w) order, where T counts tubelets. Strategies that feed the
encoder give the same number of visible tokens for every clip at a given ratio, so a batch
gathers visible tokens without padding.
"""
from trainables.masking.registry import MaskStrategy, get_strategy, register, strategy_names
from trainables.masking import (  # noqa: F401  (registers the built-ins)
    cell_running, frame, keyframe, motion_guided, random_mask, tube)

__all__ = ["MaskStrategy", "get_strategy", "register", "strategy_names"]
