"""Encoder FLOPs per clip, counted by torch's FlopCounterMode (not estimated by hand)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from trainables.masking import get_strategy
from trainables.models.build import build_encoder


def encoder_gflops(cfg, masked: bool) -> float:
    """Forward GFLOPs of the encoder for one clip: at the pretraining mask ratio, or all tokens."""
    encoder = build_encoder(cfg).eval()
    t, h, w = cfg.token_grid
    video = torch.zeros(1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size)
    mask = None
    if masked:
        m = cfg.pretrain.masking
        mask = torch.from_numpy(get_strategy(m.strategy).sample(m.ratio, (t, h, w), np.random.default_rng(0)))[None]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(video, mask)
    return counter.get_total_flops() / 1e9
