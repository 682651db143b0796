"""`maskray mask`: one mask of a strategy as JSON or a picture, before a study spends
compute on it. Uses the same strategies (and, with --video, the same clip loader and
motion vectors) as training."""
from __future__ import annotations

import json

import numpy as np
from pydantic import ValidationError

from orchestrator.errors import UserInputError

PATCH, TUBELET = 16, 2  # the geometry a --video clip is cut to: grid × patch pixels, tubelets of 2


def parse_grid(text: str) -> tuple[int, int, int]:
    try:
        grid = tuple(int(v) for v in text.split(","))
    except ValueError:
        grid = ()
    if len(grid) != 3 or min(grid) < 1:
        raise UserInputError("--grid", [f"expected T,H,W positive integers, got {text!r}"])
    return grid


def preview_mask(strategy_name: str, ratio: float, grid: tuple[int, int, int], seed: int, train: bool,
                 video: str | None, options: dict) -> tuple[np.ndarray, dict | None]:
    """→ (mask (T, H, W) bool, the clip when --video was given: {"frames", "path"})."""
    from trainables.config import MaskingConfig
    from trainables.masking import get_strategy
    try:
        masking = MaskingConfig(strategy=strategy_name, ratio=ratio, **options)
    except ValidationError as e:
        raise UserInputError("maskray mask", [f"{'.'.join(map(str, err['loc'])) or 'strategy'}: "
                                              f"{err['msg']} (got {err.get('input')!r})" for err in e.errors()])
    strategy = get_strategy(strategy_name)
    if strategy.in_encoder:
        raise UserInputError("maskray mask", [
            f"{strategy_name} drops tokens inside the encoder from its attention, so it has no input "
            f"mask; every trial logs a picture of the tokens it kept (masks/finetune_mask.png)"])
    problems = strategy.problems(masking, grid)
    if problems:
        raise UserInputError("maskray mask", [f"{strategy_name}: {p}" for p in problems])
    rng = np.random.default_rng(seed)
    if video is None:
        if strategy.needs_motion:
            raise UserInputError("maskray mask", [f"{strategy_name} needs a clip: pass --video PATH"])
        return strategy.sample(masking, grid, rng, train=train).reshape(grid), None
    return _mask_of_video(masking, grid, seed, train, video)


def _mask_of_video(masking, grid, seed: int, train: bool, video: str):
    from pathlib import Path

    from trainables.config import DataConfig
    from trainables.data.clips import ClipDataset, picture_frames
    t, h, w = grid
    if h != w:
        raise UserInputError("--grid", [f"clips are square crops: with --video use H == W (got {h},{w})"])
    if not Path(video).is_file():
        raise UserInputError("--video", [f"{video} does not exist"])
    data = DataConfig(source="lists", num_classes=2, num_frames=t * TUBELET, sampling_rate=2,
                      input_size=h * PATCH, loader_workers=0)
    dataset = ClipDataset([(video, 0)], data, train, seed, grid, masking)
    sample = dataset.samples(0)[0]
    if "clip" not in sample:
        raise UserInputError("--video", [f"{video} cannot be decoded: {sample['error']}"])
    frames = picture_frames(sample["clip"])
    return sample["mask"].numpy().reshape(grid), {"frames": frames, "path": video}


def mask_json(mask: np.ndarray) -> str:
    return json.dumps({"grid": list(mask.shape), "mask": mask.astype(int).tolist()})


def draw(mask: np.ndarray, clip: dict | None, title: str, path: str) -> None:
    from trainables.mask_picture import draw_mask_picture
    t, h, w = mask.shape
    if clip is None:  # no clip: a mid-grey canvas so the mask alone is drawn
        frames = np.full((t * TUBELET, h * PATCH, w * PATCH, 3), 0.8)
    else:
        frames = clip["frames"]
    draw_mask_picture(frames, [("masked", mask.reshape(-1))], mask.shape, TUBELET, title, path)
