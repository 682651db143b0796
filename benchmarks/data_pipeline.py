"""Data pipeline: clips/s of maskray's training loader (decord with decode-time resize,
VideoMAE sampling, crop, normalization, tube masks, DataLoader workers) against
(a) a straightforward loader that decodes each clip with PyAV and resizes afterwards, and
(b) raw decord decoding of the same frames at the same size (the limit), all through the
same DataLoader settings, measured on the second epoch (training's steady state). Goals: ≥ 2× (a) and ≥ 0.8× (b). Also: what repeated
augmentation (data.repeated_aug, VideoMAE's num_sample) buys in clips/s.

    python benchmarks/data_pipeline.py [--clips-per-class 8] [--workers 2]"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from trainables.config import DataConfig, MaskingConfig
from trainables.data import synth
from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD, ClipDataset, collate_clips
from trainables.data.lists import read_list
from trainables.data.video import decode_size, sample_indices
from trainables.loops.worker import EpochIndices

GRID = (8, 7, 7)          # 16 frames / tubelet 2, 112 / patch 16


class PyAVClips(Dataset):
    """The straightforward loader: decode every frame at full size with PyAV, then pick,
    resize, crop and normalize in torch."""

    def __init__(self, items, cfg: DataConfig):
        self.items, self.cfg = items, cfg

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        import av
        epoch, index = key
        rng = np.random.default_rng([epoch, index])
        with av.open(self.items[index][0]) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        idx = sample_indices(len(frames), self.cfg.num_frames, self.cfg.sampling_rate, True, rng)
        clip = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2).float().div_(255)     # T C H W
        short = round(self.cfg.input_size * self.cfg.short_side_scale)
        h, w = clip.shape[-2:]
        size = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
        clip = torch.nn.functional.interpolate(clip, size=size, mode="bilinear", align_corners=False)
        s = self.cfg.input_size
        top, left = int(rng.integers(0, size[0] - s + 1)), int(rng.integers(0, size[1] - s + 1))
        clip = clip[..., top:top + s, left:left + s].permute(1, 0, 2, 3)              # C T H W
        return {"clip": (clip - IMAGENET_MEAN) / IMAGENET_STD, "label": self.items[index][1], "index": index}


class RawDecord(Dataset):
    """The limit: decord's decode of the same frames at the same decode size, nothing else."""

    def __init__(self, items, cfg: DataConfig):
        self.items, self.cfg = items, cfg
        short = round(cfg.input_size * cfg.short_side_scale)
        self.sizes = [decode_size(path, short) for path, _ in items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        import decord
        epoch, index = key
        reader = decord.VideoReader(self.items[index][0], width=self.sizes[index][0], height=self.sizes[index][1],
                                    num_threads=1)
        idx = sample_indices(len(reader), self.cfg.num_frames, self.cfg.sampling_rate, True,
                             np.random.default_rng([epoch, index]))
        return {"clip": torch.from_numpy(reader.get_batch(idx.tolist()).asnumpy()), "label": 0, "index": index}


def clips_per_s(dataset, batch: int, workers: int) -> float:
    """Clips per second of the second epoch (training's steady state), through persistent
    DataLoader workers fed (epoch, index) keys as maskray's loops feed them."""
    sampler = EpochIndices(SequentialSampler(dataset))
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_clips,
                        persistent_workers=workers > 0, multiprocessing_context="fork" if workers else None)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        clips = sum(b["clip"].shape[0] for b in loader if "clip" in b)
    return clips / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-class", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="each loader measured this many times, best kept")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synth.generate(root, clips_per_class=args.clips_per_class, size=128, frames=48, seed=0)
        cfg = DataConfig(root=str(root), num_frames=16, sampling_rate=2, input_size=112, loader_workers=args.workers)
        items = read_list(root / "train.csv", cfg.classes)
        masking = MaskingConfig(strategy="tube", ratio=0.9)
        loaders = {
            "maskray": ClipDataset(items, cfg, True, 0, GRID, masking),
            "maskray_repeated_aug2": ClipDataset(items, cfg.model_copy(update={"repeated_aug": 2}), True, 0, GRID, masking),
            "pyav_naive": PyAVClips(items, cfg),
            "raw_decord": RawDecord(items, cfg),
        }
        best = {name: 0.0 for name in loaders}
        for _ in range(args.rounds):
            for name, dataset in loaders.items():
                best[name] = max(best[name], clips_per_s(dataset, args.batch, args.workers))
    print(f"{len(items)} H.264 clips (128 px, 48 frames) → 16 frames × 112², {args.workers} DataLoader workers, "
          f"batch {args.batch}")
    for name, rate in best.items():
        print(f"  {name:22s} {rate:7.1f} clips/s")
    vs_pyav = best["maskray"] / best["pyav_naive"]
    vs_raw = best["maskray"] / best["raw_decord"]
    ra = best["maskray_repeated_aug2"] / best["maskray"]
    print(f"repeated augmentation ×2: {ra:.2f}× the training clips per second (each decode cropped and masked twice)")
    print(f"RESULT data_pipeline_vs_pyav ratio={vs_pyav:.2f} goal>=2.0 met={'yes' if vs_pyav >= 2.0 else 'no'}")
    print(f"RESULT data_pipeline_vs_raw_decord ratio={vs_raw:.2f} goal>=0.8 met={'yes' if vs_raw >= 0.8 else 'no'}")


if __name__ == "__main__":
    main()
