"""Masking strategies, registered by name.

Convention: a mask is a boolean numpy array of shape (T*H*W,), True = masked, over the
token grid flattened in (t, h, w) order, where T counts tubelets. Strategies that feed the
encoder give the same number of visible tokens for every clip at a given ratio, so a batch
gathers visible tokens without padding.
"""
from trainables.masking.registry import MaskStrategy, get_strategy, register, strategy_names
from trainables.masking import random_mask, tube  # noqa: F401  (registers the built-ins)

__all__ = ["MaskStrategy", "get_strategy", "register", "strategy_names"]
