"""`maskray data check`: decode every clip of a list as training will, before anyone spends
GPU hours on a broken dataset."""
from __future__ import annotations

import sys

import numpy as np

from trainables.data.lists import ListFormatError, read_list
from trainables.data.video import decode_size, frame_count, read_clip, read_video

EXIT_BAD_INPUT = 2


def check_list(list_path: str, num_frames: int, sampling_rate: int, input_size: int,
               num_classes: int | None = None, short_side_scale: float = 1.15) -> int:
    try:
        items = read_list(list_path, num_classes)
    except FileNotFoundError:
        print(f"error: {list_path}: list file does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ListFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    span = num_frames * sampling_rate
    short_side = round(input_size * short_side_scale)
    unreadable: list[tuple[str, str]] = []
    short: list[tuple[str, int]] = []
    pyav: list[str] = []
    labels: dict[int, int] = {}
    rng = np.random.default_rng(0)
    for path, label in items:
        labels[label] = labels.get(label, 0) + 1
        try:
            size = decode_size(path, short_side)
            clip, _, decoder = read_clip(path, num_frames, sampling_rate, short_side, False, rng, size=size)
            if clip.shape[0] != num_frames:
                raise ValueError(f"decoded {clip.shape[0]} frames, expected {num_frames}")
            total = len(read_video(path, size)[0]) if decoder == "pyav" else frame_count(path)
        except Exception as e:
            unreadable.append((path, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
            continue
        if decoder == "pyav":
            pyav.append(path)
        if total < span:
            short.append((path, total))
    print(f"{list_path}: {len(items)} clips, {len(labels)} labels, {len(unreadable)} unreadable, "
          f"{len(pyav)} read through PyAV, {len(short)} shorter than {num_frames}×{sampling_rate}={span} frames")
    for path, total in short:
        print(f"  short ({total} frames, sampled with repetition): {path}")
    for path in pyav:
        print(f"  PyAV (decord cannot open or seek it; decoded frame by frame, slower): {path}")
    for path, error in unreadable:
        print(f"  UNREADABLE: {path}: {error}")
    return EXIT_BAD_INPUT if unreadable else 0
