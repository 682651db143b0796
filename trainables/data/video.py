"""Clip decoding with decord (decode-time resize, `get_batch`) and VideoMAE frame sampling."""
from __future__ import annotations

import numpy as np


def sample_indices(total: int, num_frames: int, sampling_rate: int, train: bool,
                   rng: np.random.Generator, segment: bool = False) -> np.ndarray:
    """Frame indices of one clip.

    Dense (Kinetics-style): `num_frames` frames `sampling_rate` apart, from a random start
    in training and the centre at evaluation; a video shorter than the span repeats frames
    (indices clipped to the last frame), as VideoMAE does, instead of being rejected.
    Segment (SSv2-style): the video cut into `num_frames` equal segments, one frame from
    each (random in training, the middle at evaluation).
    """
    if segment:
        edges = np.linspace(0, total, num_frames + 1)
        if train:
            picks = edges[:-1] + rng.random(num_frames) * np.diff(edges)
        else:
            picks = (edges[:-1] + edges[1:]) / 2
        return np.clip(picks.astype(np.int64), 0, total - 1)
    span = num_frames * sampling_rate
    if total > span:
        start = int(rng.integers(0, total - span + 1)) if train else (total - span) // 2
    else:
        start = 0
    return np.clip(start + np.arange(num_frames) * sampling_rate, 0, total - 1)


def _open(path: str, width: int = -1, height: int = -1):
    import decord
    return decord.VideoReader(path, width=width, height=height, num_threads=1)


def source_size(path: str) -> tuple[int, int]:
    """(height, width) of the video as stored, from the stream's header (no frame decoded:
    a third of the cost of decord's first frame)."""
    import av
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            height, width = stream.codec_context.height, stream.codec_context.width
    except (av.FFmpegError, IndexError) as e:
        raise ValueError(f"cannot read the video stream header: {e}") from None
    if not height or not width:
        raise ValueError("the video stream header has no frame size")
    return height, width


def decode_size(path: str, short_side: int, source: tuple[int, int] | None = None) -> tuple[int, int]:
    """(width, height) that scales the video's short side to `short_side`, keeping aspect."""
    h, w = source or source_size(path)
    if h <= w:
        return max(short_side, round(w * short_side / h)), short_side
    return short_side, max(short_side, round(h * short_side / w))


def read_clip(path: str, num_frames: int, sampling_rate: int, short_side: int, train: bool,
              rng: np.random.Generator, segment: bool = False,
              size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (num_frames, H, W, 3) with the short side resized at decode time, frame indices).

    Raises on a file decord cannot open or decode (callers decide: skip or fail)."""
    width, height = size or decode_size(path, short_side)
    reader = _open(path, width, height)
    total = len(reader)
    if total == 0:
        raise ValueError("no decodable frames")
    idx = sample_indices(total, num_frames, sampling_rate, train, rng, segment)
    return reader.get_batch(idx.tolist()).asnumpy(), idx


def read_video(path: str, size: tuple[int, int]) -> np.ndarray:
    """Every frame, uint8 (N, H, W, 3), decoded at `size` (width, height)."""
    reader = _open(path, *size)
    if len(reader) == 0:
        raise ValueError("no decodable frames")
    return reader.get_batch(list(range(len(reader)))).asnumpy()
