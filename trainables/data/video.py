"""Clip decoding with decord (decode-time resize, `get_batch`) and VideoMAE frame sampling.
A video decord cannot open, count or seek (a WebM or Ogg file written without duration or
index, say) is decoded frame by frame through PyAV instead: the same frames, the same
FFmpeg resize; `decoder` in what the readers return says which one did it."""
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


def frame_count(path: str) -> int:
    return len(_open(path))


def read_clip(path: str, num_frames: int, sampling_rate: int, short_side: int, train: bool,
              rng: np.random.Generator, segment: bool = False,
              size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 (num_frames, H, W, 3) with the short side resized at decode time, frame indices,
    the decoder: "decord", or "pyav" for a video decord could not read).

    Raises when neither decoder can read the file (callers decide: skip or fail)."""
    width, height = size or decode_size(path, short_side)
    try:
        reader = _open(path, width, height)
        total = len(reader)
        if total == 0:
            raise ValueError("no decodable frames")
        idx = sample_indices(total, num_frames, sampling_rate, train, rng, segment)
        return reader.get_batch(idx.tolist()).asnumpy(), idx, "decord"
    except Exception as decord_error:
        video = _pyav_frames(path, (width, height), decord_error)
        idx = sample_indices(len(video), num_frames, sampling_rate, train, rng, segment)
        return video[idx], idx, "pyav"


def read_video(path: str, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """(every frame, uint8 (N, H, W, 3), decoded at `size` (width, height); the decoder)."""
    try:
        reader = _open(path, *size)
        if len(reader) == 0:
            raise ValueError("no decodable frames")
        return reader.get_batch(list(range(len(reader)))).asnumpy(), "decord"
    except Exception as decord_error:
        return _pyav_frames(path, size, decord_error), "pyav"


def _pyav_frames(path: str, size: tuple[int, int], decord_error: Exception) -> np.ndarray:
    """Every frame in decoding order, scaled by FFmpeg's bilinear scaler (what decord's
    resize matches most closely: ≈ 1 grey level apart on average). Raises a ValueError
    naming both decoders' errors when PyAV cannot read the file either."""
    import av
    width, height = size
    try:
        with av.open(path) as container:
            frames = [frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR")
                      for frame in container.decode(video=0)]
    except (av.FFmpegError, IndexError, ValueError) as e:
        raise ValueError(f"decord: {_first_line(decord_error)}; PyAV: {_first_line(e)}") from None
    if not frames:
        raise ValueError(f"decord: {_first_line(decord_error)}; PyAV: no decodable frames")
    return np.stack(frames)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
