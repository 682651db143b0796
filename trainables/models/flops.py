"""Encoder FLOPs per clip, counted by torch's FlopCounterMode (not estimated by hand)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from trainables.masking import get_strategy
from trainables.models.build import build_encoder
from trainables.models.token_dropout import TokenDropout


def encoder_gflops(cfg, masking=None) -> float:
    """Forward GFLOPs of the encoder for one clip under `masking` (a MaskingConfig; None =
    every token). Only the visible count matters, so any mask with that count is used."""
    encoder = build_encoder(cfg).eval()
    grid = cfg.token_grid
    video = torch.zeros(1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size)
    mask = dropout = None
    if masking is not None:
        strategy = get_strategy(masking.strategy)
        if strategy.in_encoder:
            dropout = TokenDropout.from_masking(masking, encoder.depth)
        else:
            n = grid[0] * grid[1] * grid[2]
            mask = np.zeros(n, dtype=bool)
            mask[np.random.default_rng(0).permutation(n)[: strategy.num_masked(masking, grid)]] = True
            mask = torch.from_numpy(mask)[None]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(video, mask, dropout)
    return counter.get_total_flops() / 1e9


def autoencoder_gflops(cfg, mask) -> dict[str, float]:
    """Per clip, counted on a real step: the decoders' (and regressor's) forward GFLOPs and
    the whole pretraining step's (forward + backward) GFLOPs at the trial's mask."""
    from trainables.models.build import build_autoencoder
    if mask is None:
        return {}
    model = build_autoencoder(cfg)
    video = torch.zeros(1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size)
    mask = mask[None]
    with torch.no_grad(), FlopCounterMode(display=False) as encoder_only:
        model.encoder(video, mask)
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        model(video, mask)
    with FlopCounterMode(display=False) as step:
        sum(p.float().pow(2).mean() for p in model(video, mask).values()).backward()
    return {"model/decoder_gflops": (forward.get_total_flops() - encoder_only.get_total_flops()) / 1e9,
            "model/pretrain_step_gflops_per_clip": step.get_total_flops() / 1e9}
