"""The GPU path of pretraining: ViT-B, 16 frames × 224², tube masking at r=0.9, one device.
Runs the trial's own step (ReconstructionLoss under the trial's autocast, fused AdamW,
optional torch.compile) on batches copied from pinned memory with non-blocking copies,
and reports clips/s and model FLOPs utilisation (FLOPs counted by torch.utils.flop_counter
on one real step ÷ the device's dense bf16 peak). Goal: MFU ≥ 40 % on one H100.

    python benchmarks/gpu_pretrain.py [--batch 32] [--steps 20] [--compile] [--profile]

Without a GPU it runs the same code at nano scale on the CPU (autocast off) so the path
stays exercised, and reports the MFU goal as not measured."""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from trainables.config import TrialConfig
from trainables.loops.epoch import pretrain_adamw
from trainables.targets.loss import ReconstructionLoss
from trainables.loops.worker import Worker
from trainables.masking import get_strategy
from trainables.models.build import build_autoencoder
from trainables.run_logger import RunLogger

GOAL = 0.40
DENSE_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def peak_tflops(name: str) -> float | None:
    for key, value in DENSE_BF16_TFLOPS.items():   # the most specific name first
        if key in name:
            return value
    return None


def trial_config(gpu: bool, compile_model: bool) -> TrialConfig:
    data = ({"num_frames": 16, "input_size": 224} if gpu else {"num_frames": 8, "input_size": 32})
    model = {"preset": "base", "patch_size": 16} if gpu else {"preset": "nano", "patch_size": 8}
    return TrialConfig.model_validate({
        "data": data, "model": {**model, "tubelet_size": 2, "compile": compile_model},
        "pretrain": {"masking": {"strategy": "tube", "ratio": 0.9}, "target": "normalized_pixel"}})


def pinned_batches(cfg: TrialConfig, batch: int, count: int, pin: bool) -> list[dict]:
    strategy, rng = get_strategy("tube"), np.random.default_rng(0)
    d = cfg.data
    out = []
    for _ in range(count):
        clip = torch.randint(0, 256, (batch, 3, d.num_frames, d.input_size, d.input_size), dtype=torch.uint8)
        mask = torch.from_numpy(np.stack([strategy.sample(cfg.pretrain.masking, cfg.token_grid, rng, train=True)
                                          for _ in range(batch)]))
        out.append({"clip": clip.pin_memory() if pin else clip, "mask": mask.pin_memory() if pin else mask})
    return out


def print_profile(step, batches: list[dict], gpu: bool) -> None:
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities) as prof:
        for b in batches[:3]:
            step(b)
        if gpu:
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if gpu else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=20, max_name_column_width=60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=None, help="clips per step (default: 32 on GPU, 4 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 on GPU, 5 on CPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model first")
    ap.add_argument("--profile", action="store_true", help="also print the kernels that take the most GPU time")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: from its name)")
    args = ap.parse_args()
    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    batch, steps = args.batch or (32 if gpu else 4), args.steps or (20 if gpu else 5)
    cfg = trial_config(gpu, args.compile)
    w = Worker(0, 1, device, RunLogger(None, None), "bf16" if gpu else "fp32")
    model = build_autoencoder(cfg).to(device)
    if args.compile:
        model = torch.compile(model)
    optimizer = pretrain_adamw(model, 0.05, device)
    for group in optimizer.param_groups:
        group["lr"] = 1.5e-4
    loss_fn = ReconstructionLoss(model, cfg.pretrain.loss_weights, cfg.model.tubelet_size, cfg.model.patch_size, w)
    batches = pinned_batches(cfg, batch, 4, pin=gpu)

    def step(b: dict) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(b)
        loss.backward()
        optimizer.step()
        return loss.detach()

    for b in batches[:2] * (2 if args.compile else 1):      # warm-up (and compilation)
        step(b)
    with FlopCounterMode(display=False) as counter:
        step(batches[0])
    flops_per_step = counter.get_total_flops()
    if gpu:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(steps):
        loss = step(batches[i % len(batches)])
    float(loss)                                              # waits for the last step
    elapsed = time.perf_counter() - started
    clips_per_s = batch * steps / elapsed
    achieved = flops_per_step * steps / elapsed / 1e12
    name = torch.cuda.get_device_name() if gpu else "CPU"
    print(f"{name}: {cfg.model.preset} {cfg.data.num_frames}×{cfg.data.input_size}², tube 0.9, batch {batch}, "
          f"precision {w.precision}, fused AdamW {gpu}, compile {args.compile}")
    print(f"{clips_per_s:.1f} clips/s, {flops_per_step / batch / 1e9:.3g} GFLOPs per clip (fwd+bwd), "
          f"{achieved:.3g} TFLOP/s achieved")
    if args.profile:
        print_profile(step, batches, gpu)
    peak = args.peak_tflops or (peak_tflops(name) if gpu else None)
    if peak is None:
        print("no GPU (or an unknown one: pass --peak-tflops): the path ran, MFU was not measured")
        print(f"RESULT gpu_pretrain_mfu ratio=nan goal>={GOAL} met=no")
        return
    mfu = achieved / peak
    print(f"MFU {100 * mfu:.1f}% of {peak:.0f} TFLOP/s dense bf16")
    print(f"RESULT gpu_pretrain_mfu ratio={mfu:.3f} goal>={GOAL} met={'yes' if mfu >= GOAL else 'no'}")


if __name__ == "__main__":
    main()
