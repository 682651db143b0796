"""Does masked pretraining learn at laptop scale? Pretrains the nano ViT in this process (the
trial's own loop, no Ray) on a synthetic-actions set and prints, per epoch, the reconstruction
loss against its floor (predicting zero on the same tokens) and the probes of the encoder
(k-NN on mean-pooled features and on their changes between time steps, linear on
time-ordered ones) against the same encoder at its random initialisation.
Goals (issue: studies that answer their question): loss ≤ 0.8 × floor, a probe ≥ random init + 10 points.

    python benchmarks/pretraining_learns.py [--size 64] [--input 64] [--patch 8] [--epochs 30] ..."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from trainables.config import TrialConfig
from trainables.data import synth
from trainables.data.lists import read_list
from trainables.loops.pretrain import pretrain
from trainables.loops.session import LocalSession
from trainables.loops.worker import start_worker
from trainables.tracking import KNN_MOTION_TOP1, KNN_TOP1, LINEAR_TOP1, PRETRAIN_LOSS_FLOOR

LOSS_GOAL, KNN_GAIN_GOAL = 0.8, 10.0
PROBES = (("knn", KNN_TOP1), ("knn_motion", KNN_MOTION_TOP1), ("linear", LINEAR_TOP1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-class", type=int, default=40)
    ap.add_argument("--size", type=int, default=64, help="rendered clip size (px)")
    ap.add_argument("--style", default="flat", help="synthetic-actions style: flat or textured")
    ap.add_argument("--input", type=int, default=64, help="model input size (px)")
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1.5e-3, help="base_lr (× batch / 256)")
    ap.add_argument("--ratio", type=float, default=0.9)
    ap.add_argument("--strategy", default="tube")
    ap.add_argument("--target", default="normalized_pixel")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--positions", default="sincos_1d", help="model.positions: sincos_1d (VideoMAE) or sincos_3d")
    ap.add_argument("--decoder-dim", type=int, help="model.decoder_dim (default: the preset's)")
    ap.add_argument("--decoder-depth", type=int, help="model.decoder_depth (default: the preset's)")
    ap.add_argument("--data", help="an existing synthetic-actions folder (default: generated in a temp folder)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data or Path(tmp) / "synth")
        synth.ensure(root, clips_per_class=args.clips_per_class, size=args.size, frames=16, fps=16, seed=0,
                     style=args.style)
        cfg = TrialConfig.model_validate({
            "data": {"root": str(root), "num_frames": args.frames, "sampling_rate": 2, "input_size": args.input,
                     "loader_workers": 0, "cache_decoded_videos": True},
            "model": {"preset": args.preset, "patch_size": args.patch, "tubelet_size": 2, "positions": args.positions,
                      "decoder_dim": args.decoder_dim, "decoder_depth": args.decoder_depth},
            "pretrain": {"epochs": args.epochs, "batch_size": args.batch, "base_lr": args.lr, "warmup_epochs": 1,
                         "masking": {"strategy": args.strategy, "ratio": args.ratio}, "target": args.target,
                         "knn_every": max(1, args.epochs // 4)}})
        splits = {s: read_list(root / f"{s}.csv", cfg.data.classes) for s in ("train", "val", "test")}
        session = LocalSession()
        w = start_worker({}, 1, cfg.seed, "fp32", session)
        started = time.perf_counter()
        _, record = pretrain(cfg, splits, w, None)
        seconds = time.perf_counter() - started
    grid = cfg.token_grid
    print(f"{args.preset} ViT ({args.positions}, decoder {cfg.model.decoder_dim or 'preset'}×"
          f"{cfg.model.decoder_depth or 'preset'}), {args.input}² input (rendered {args.size}²), patch {args.patch}, grid {list(grid)} "
          f"({grid[0] * grid[1] * grid[2]} tokens), {args.strategy} {args.ratio}, {args.target}, "
          f"{len(splits['train'])} train clips, {args.epochs} epochs, {seconds:.0f} s")
    at_init = record["model"]
    print(f"epoch  loss    floor   loss/floor  knn_top1  knn_motion  linear_top1   (at init: k-NN {at_init[KNN_TOP1]:.1f}, "
          f"motion k-NN {at_init[KNN_MOTION_TOP1]:.1f}, linear {at_init[LINEAR_TOP1]:.1f})")
    for e in record["epochs"]:
        probes = "".join("" if e.get(key) is None else f"{e[key]:10.1f}" for _, key in PROBES)
        print(f"{e['epoch']:5d}  {e['pretrain/loss']:.4f}  {e[PRETRAIN_LOSS_FLOOR]:.4f}  "
              f"{e['pretrain/loss_vs_floor']:10.3f}  {probes}")
    last = record["epochs"][-1]
    ratio = last["pretrain/loss_vs_floor"]
    print(f"RESULT loss_vs_floor ratio={ratio:.3f} goal<={LOSS_GOAL} met={'yes' if ratio <= LOSS_GOAL else 'no'}")
    for name, key in PROBES:
        gain = last[key] - at_init[key]
        print(f"RESULT {name}_gain_over_init value={gain:.1f} goal>={KNN_GAIN_GOAL} "
              f"met={'yes' if gain >= KNN_GAIN_GOAL else 'no'}")


if __name__ == "__main__":
    main()
