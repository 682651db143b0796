"""The torch Dataset of (clip, label, mask) for training and evaluation.

An unreadable clip yields None; `collate_clips` drops it and counts it, so a training
split goes on without it and an evaluation split can name it. A clip is never swapped
for another one."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from trainables.data.video import decode_size, read_clip, read_video, sample_indices
from trainables.masking import get_strategy

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)


class ClipDataset(Dataset):
    def __init__(self, items: list[tuple[str, int]], data_cfg, train: bool, seed: int,
                 token_grid: tuple[int, int, int] | None = None, masking=None):
        self.items = items
        self.cfg = data_cfg
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.grid = token_grid
        self.masking = masking
        self.strategy = get_strategy(masking.strategy) if masking is not None else None
        self._decode_sizes: dict[str, tuple[int, int]] = {}
        self._videos: dict[str, np.ndarray] = {}   # data.cache_decoded_videos

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, index: int) -> np.random.Generator:
        # Per (seed, epoch, clip): the same clip gets the same crop and mask however the
        # data are sharded over workers, and a resumed epoch replays exactly.
        return np.random.default_rng([self.seed, self.epoch, index, int(self.train)])

    def load(self, index: int, rng: np.random.Generator) -> torch.Tensor:
        """float (3, T, S, S), normalized; raises when the file cannot be decoded."""
        path, _ = self.items[index]
        cfg = self.cfg
        short = round(cfg.input_size * cfg.short_side_scale)
        if path not in self._decode_sizes:
            self._decode_sizes[path] = decode_size(path, short)
        if cfg.cache_decoded_videos:
            if path not in self._videos:
                self._videos[path] = read_video(path, self._decode_sizes[path])
            video = self._videos[path]
            idx = sample_indices(len(video), cfg.num_frames, cfg.sampling_rate, self.train, rng,
                                 cfg.segment_sampling)
            frames = video[idx]
        else:
            frames = read_clip(path, cfg.num_frames, cfg.sampling_rate, short, self.train, rng,
                               cfg.segment_sampling, self._decode_sizes[path])
        clip = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div_(255)  # C T H W
        clip = self._crop(clip, rng)
        return (clip - IMAGENET_MEAN) / IMAGENET_STD

    def _crop(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        s = self.cfg.input_size
        h, w = clip.shape[-2:]
        if self.train:
            top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        else:
            top, left = (h - s) // 2, (w - s) // 2
        clip = clip[..., top:top + s, left:left + s]
        if self.train and self.cfg.horizontal_flip and rng.random() < 0.5:
            clip = clip.flip(-1)
        return clip

    def __getitem__(self, index: int):
        rng = self._rng(index)
        try:
            clip = self.load(index, rng)
        except Exception as e:  # decord raises its own DECORDError and RuntimeErrors
            return {"unreadable": self.items[index][0], "error": f"{type(e).__name__}: {e}"}
        sample = {"clip": clip, "label": self.items[index][1], "index": index}
        if self.strategy is not None:
            mask = self.strategy.sample(self.masking.ratio, self.grid, rng, train=self.train)
            sample["mask"] = torch.from_numpy(mask)
        return sample


def collate_clips(samples: list[dict]) -> dict:
    good = [s for s in samples if "clip" in s]
    batch = {"unreadable": [(s["unreadable"], s["error"]) for s in samples if "unreadable" in s]}
    if good:
        batch["clip"] = torch.stack([s["clip"] for s in good])
        batch["label"] = torch.tensor([s["label"] for s in good])
        batch["index"] = torch.tensor([s["index"] for s in good])
        if "mask" in good[0]:
            batch["mask"] = torch.stack([s["mask"] for s in good])
    return batch
