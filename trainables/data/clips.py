"""The torch Dataset of (clip, label, mask) for training and evaluation.

An unreadable clip yields None; `collate_clips` drops it and counts it, so a training
split goes on without it and an evaluation split can name it. A clip is never swapped
for another one."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from trainables.data import motion
from trainables.data.motion import TokenMotion
from trainables.data.video import decode_size, read_clip, read_video, sample_indices
from trainables.masking import get_strategy

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)


def normalize(clips: torch.Tensor) -> torch.Tensor:
    """uint8 clips (…, 3, T, H, W) → float, ImageNet-normalized, where the clips are."""
    mean, std = IMAGENET_MEAN.to(clips.device), IMAGENET_STD.to(clips.device)
    return (clips.float().div_(255) - mean) / std


def model_input(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch's uint8 clips → normalized float on `device`: loader workers and the copy to a
    GPU move a quarter of the bytes that float clips would."""
    return normalize(clips.to(device, non_blocking=True))


def picture_frames(clip: torch.Tensor) -> np.ndarray:
    """One uint8 clip (3, T, H, W) → frames (T, H, W, 3) in [0, 1], for drawing."""
    return clip.permute(1, 2, 3, 0).float().div(255).numpy()

# Per worker process, shared by every dataset of a trial (pretraining, fine-tuning, eval):
# a clip is probed and, with data.cache_decoded_videos, decoded once per process.
_DECODE_SIZES: dict[tuple[str, int], tuple[int, int]] = {}
_DECODED_VIDEOS: dict[tuple[str, tuple[int, int]], tuple[np.ndarray, str]] = {}   # → (frames, decoder)
_MOTION: dict[str, "motion.VideoMotion | None"] = {}


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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, index: int, epoch: int) -> np.random.Generator:
        # Per (seed, epoch, clip): the same clip gets the same crop and mask however the
        # data are sharded over workers, and a resumed epoch replays exactly.
        return np.random.default_rng([self.seed, epoch, index, int(self.train)])

    def load(self, index: int, rng: np.random.Generator, repeats: int = 1) -> list[tuple[torch.Tensor, dict]]:
        """`repeats` crops of one decoded clip (VideoMAE's repeated augmentation), each uint8
        (3, T, S, S) (`model_input` normalizes a batch of them), with where it came from
        (frame indices, decode size, crop, flip); raises when the file cannot be decoded."""
        path, _ = self.items[index]
        cfg = self.cfg
        short = round(cfg.input_size * cfg.short_side_scale)
        if (path, short) not in _DECODE_SIZES:
            _DECODE_SIZES[path, short] = decode_size(path, short)
        size = _DECODE_SIZES[path, short]
        if cfg.cache_decoded_videos:
            if (path, size) not in _DECODED_VIDEOS:
                _DECODED_VIDEOS[path, size] = read_video(path, size)
            video, decoder = _DECODED_VIDEOS[path, size]
            idx = sample_indices(len(video), cfg.num_frames, cfg.sampling_rate, self.train, rng,
                                 cfg.segment_sampling)
            frames = video[idx]
        else:
            frames, idx, decoder = read_clip(path, cfg.num_frames, cfg.sampling_rate, short, self.train, rng,
                                             cfg.segment_sampling, size)
        full = torch.from_numpy(frames).permute(3, 0, 1, 2)  # C T H W
        out = []
        for _ in range(repeats):
            clip, (top, left, flip) = self._crop(full, rng)
            where = {"frame_idx": idx, "decode_hw": (size[1], size[0]), "crop": (top, left, cfg.input_size),
                     "flip": flip, "decoder": decoder}
            out.append((clip.contiguous(), where))
        return out

    def _crop(self, clip: torch.Tensor, rng: np.random.Generator):
        s = self.cfg.input_size
        h, w = clip.shape[-2:]
        if self.train:
            top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        else:
            top, left = (h - s) // 2, (w - s) // 2
        clip = clip[..., top:top + s, left:left + s]
        flip = bool(self.train and self.cfg.horizontal_flip and rng.random() < 0.5)
        return (clip.flip(-1) if flip else clip), (top, left, flip)

    def clip_motion(self, path: str, clip: torch.Tensor, where: dict) -> TokenMotion:
        """Per-token motion of the clip: cached codec vectors, else frame differences. A video
        whose vectors cannot be read is treated as having none, never as a failure."""
        if path not in _MOTION:
            try:
                _MOTION[path] = motion.load(path)
            except Exception:
                _MOTION[path] = None
        video_motion = _MOTION[path] or motion.VideoMotion.none(where["decode_hw"])
        t, g, _ = self.grid
        patch, tubelet = self.cfg.input_size // g, self.cfg.num_frames // t
        luma = normalize(clip).mean(dim=0).numpy()  # (T, S, S)
        return motion.token_motion(video_motion, where["frame_idx"], where["decode_hw"], where["crop"],
                                   where["flip"], patch, tubelet, luma)

    def __getitem__(self, key: "int | tuple[int, int]"):
        """A sample dict, or with data.repeated_aug > 1 in training a list of that many
        samples of the same decoded frames (other crops and masks). `key` is an index, or
        (epoch, index) from a loader whose workers outlive an epoch."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        samples = self.samples(index, epoch)
        return samples if len(samples) > 1 else samples[0]

    def samples(self, index: int, epoch: int | None = None) -> list[dict]:
        rng = self._rng(index, self.epoch if epoch is None else epoch)
        path, label = self.items[index]
        repeats = self.cfg.repeated_aug if self.train else 1
        try:
            loaded = self.load(index, rng, repeats)
        except Exception as e:  # decord raises its own DECORDError and RuntimeErrors
            return [{"unreadable": path, "error": f"{type(e).__name__}: {e}"}]
        samples = []
        for clip, where in loaded:
            sample = {"clip": clip, "label": label, "index": index, "pyav_fallback": where["decoder"] == "pyav"}
            if self.strategy is not None and not self.strategy.in_encoder:
                token_motion = self.clip_motion(path, clip, where) if self.strategy.needs_motion else None
                mask = self.strategy.sample(self.masking, self.grid, rng, train=self.train, motion=token_motion)
                sample["mask"] = torch.from_numpy(mask)
                if token_motion is not None:
                    sample["motion_fallback"] = not token_motion.from_vectors.all()
            samples.append(sample)
        return samples


def collate_clips(samples: list) -> dict:
    samples = [s for item in samples for s in (item if isinstance(item, list) else [item])]
    good = [s for s in samples if "clip" in s]
    batch = {"unreadable": [(s["unreadable"], s["error"]) for s in samples if "unreadable" in s]}
    if good:
        batch["clip"] = torch.stack([s["clip"] for s in good])
        batch["label"] = torch.tensor([s["label"] for s in good])
        batch["index"] = torch.tensor([s["index"] for s in good])
        if "mask" in good[0]:
            batch["mask"] = torch.stack([s["mask"] for s in good])
        batch["motion_fallback"] = sum(bool(s.get("motion_fallback")) for s in good)
        batch["pyav_fallback"] = sum(s["pyav_fallback"] for s in good)
    return batch
