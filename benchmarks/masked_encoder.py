"""Masked encoder: a forward+backward step at mask ratio r against the unmasked step (r=0),
ViT-S at 8×14×14 tokens (16 frames × 224², tubelet 2, patch 16). The encoder runs on the
visible tokens only, so the FLOPs ratio (counted by torch.utils.flop_counter) is the limit
the time ratio can reach. Goal: time ratio ≤ 1.3 × FLOPs ratio at r=0.9.

    python benchmarks/masked_encoder.py [--preset small] [--batch 1] [--repeats 3]"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from trainables.models.presets import PRESETS
from trainables.models.vit import VideoViT

GRID = (8, 14, 14)
RATIOS = (0.0, 0.5, 0.75, 0.9)
GOAL = 1.3


def exact_masks(batch: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    n = GRID[0] * GRID[1] * GRID[2]
    masked = int(ratio * n)
    order = torch.rand(batch, n, generator=generator).argsort(dim=1)
    return order < masked


def step(encoder: VideoViT, video: torch.Tensor, mask: torch.Tensor) -> None:
    encoder.zero_grad(set_to_none=True)
    encoder(video, mask).float().pow(2).mean().backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    p = PRESETS[args.preset]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder = VideoViT(GRID, 16, 2, p.dim, p.depth, p.heads).to(device)
    video = torch.randn(args.batch, 3, GRID[0] * 2, GRID[1] * 16, GRID[2] * 16, device=device)
    generator = torch.Generator().manual_seed(0)
    rows = {}
    for ratio in RATIOS:
        mask = exact_masks(args.batch, ratio, generator).to(device)
        with FlopCounterMode(display=False) as counter:
            step(encoder, video, mask)
        step(encoder, video, mask)                      # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(args.repeats):
            step(encoder, video, mask)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows[ratio] = ((time.perf_counter() - started) / args.repeats, counter.get_total_flops() / 1e9)
    base_s, base_gflops = rows[0.0]
    print(f"{args.preset} encoder, {GRID[0]}×{GRID[1]}×{GRID[2]} tokens, batch {args.batch}, {device.type}, "
          f"{torch.get_num_threads()} threads")
    print("ratio  step_s   GFLOPs  time_ratio  flops_ratio  time/flops")
    results = {}
    for ratio, (seconds, gflops) in rows.items():
        time_ratio, flops_ratio = seconds / base_s, gflops / base_gflops
        results[ratio] = time_ratio / flops_ratio
        print(f"{ratio:5.2f}  {seconds:6.3f}  {gflops:7.1f}  {time_ratio:10.3f}  {flops_ratio:11.3f}  "
              f"{results[ratio]:10.2f}")
    measured = results[0.9]
    print(f"RESULT masked_encoder_r0.9_time_over_flops ratio={measured:.2f} goal<={GOAL} "
          f"met={'yes' if measured <= GOAL else 'no'}")


if __name__ == "__main__":
    main()
