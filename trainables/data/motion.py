"""Codec motion vectors (MGM): read from the compressed stream, cached next to the dataset,
and turned into per-token motion for a sampled, cropped clip.

Extraction decodes the stream once with PyAV and `flags2=+export_mvs`; each frame's vectors
(H.264 partitions of 4×4 to 16×16 pixels) are averaged by area onto a grid of
MOTION_CELL-pixel cells as the content's displacement from the previous frame. Frames with
no vectors (I-frames, intra-only codecs) are marked absent; `token_motion` then reports the
step as lacking vectors and the caller falls back to frame differences."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MOTION_CELL = 8        # pixels; H.264 partitions are 4..16 px, 8 keeps the cache small
CACHE_DIR = ".motion"  # next to the videos: <video dir>/.motion/<video name>.npz


@dataclass(frozen=True)
class VideoMotion:
    displacement: np.ndarray  # float16 (F, 2, Hc, Wc): (dx, dy) in source pixels, prev → this frame
    present: np.ndarray       # bool (F,): the frame carried motion vectors
    source_hw: tuple[int, int]

    @classmethod
    def none(cls, source_hw: tuple[int, int]) -> "VideoMotion":
        """A video whose vectors cannot be read: every step falls back to frame differences."""
        return cls(np.zeros((1, 2, 1, 1), np.float16), np.zeros(1, bool), source_hw)

    @property
    def any_vectors(self) -> bool:
        return bool(self.present.any())


def extract(path: str | Path) -> VideoMotion:
    """Decodes `path` once with motion-vector export; raises on an unreadable file."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        frames, present, hw = [], [], None
        for frame in container.decode(stream):
            if hw is None:
                hw = (frame.height, frame.width)
                cells = (-(-hw[0] // MOTION_CELL), -(-hw[1] // MOTION_CELL))
            side = frame.side_data.get("MOTION_VECTORS")
            vectors = side.to_ndarray() if side is not None else None
            present.append(vectors is not None and len(vectors) > 0)
            frames.append(_to_cells(vectors, cells) if present[-1] else np.zeros((2, *cells), np.float32))
    if not frames:
        raise ValueError("no decodable frames")
    return VideoMotion(np.stack(frames).astype(np.float16), np.array(present), hw)


def _to_cells(mv: np.ndarray, cells: tuple[int, int]) -> np.ndarray:
    """Area-weighted mean displacement per cell, (2, Hc, Wc)."""
    sign = np.where(mv["source"] > 0, 1.0, -1.0)  # past reference: content moved by -motion
    scale = np.maximum(mv["motion_scale"], 1)
    dx = sign * mv["motion_x"] / scale
    dy = sign * mv["motion_y"] / scale
    total = np.zeros((2, *cells))
    area = np.zeros(cells)
    w, h = mv["w"].astype(int), mv["h"].astype(int)
    x0, y0 = mv["dst_x"] - w // 2, mv["dst_y"] - h // 2
    for oy in range(0, 16, MOTION_CELL):
        for ox in range(0, 16, MOTION_CELL):
            inside = (ox < w) & (oy < h)
            cy = np.clip((y0 + oy) // MOTION_CELL, 0, cells[0] - 1)[inside]
            cx = np.clip((x0 + ox) // MOTION_CELL, 0, cells[1] - 1)[inside]
            weight = (np.minimum(w, MOTION_CELL) * np.minimum(h, MOTION_CELL))[inside]
            np.add.at(total[0], (cy, cx), dx[inside] * weight)
            np.add.at(total[1], (cy, cx), dy[inside] * weight)
            np.add.at(area, (cy, cx), weight)
    return np.divide(total, area, out=np.zeros_like(total), where=area > 0).astype(np.float32)


def cache_path(video: str | Path) -> Path:
    video = Path(video)
    return video.parent / CACHE_DIR / f"{video.name}.npz"


def load(video: str | Path, write_cache: bool = True) -> VideoMotion:
    """The cached motion of `video`, extracted (and cached, atomically) when missing or stale."""
    video = Path(video)
    stat = video.stat()
    cached = cache_path(video)
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            if int(z["source_size"]) == stat.st_size and int(z["source_mtime_ns"]) == stat.st_mtime_ns:
                return VideoMotion(z["displacement"], z["present"], tuple(int(v) for v in z["source_hw"]))
    motion = extract(video)
    if write_cache:
        try:
            cached.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, displacement=motion.displacement, present=motion.present,
                                    source_hw=np.array(motion.source_hw), source_size=stat.st_size,
                                    source_mtime_ns=stat.st_mtime_ns)
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only dataset: motion stays in memory only
    return motion


@dataclass(frozen=True)
class TokenMotion:
    """Per tubelet step t of one clip, at the positions of step t's first frame: motion score
    per token, the displacement (in tokens) by which the content got there from step t-1, and
    whether codec vectors covered the step (else the score is a frame difference, no shift)."""
    score: np.ndarray         # float32 (T, gh, gw)
    displacement: np.ndarray  # float32 (T, 2, gh, gw): (dx, dy)
    from_vectors: np.ndarray  # bool (T,)


def token_motion(motion: VideoMotion, frame_idx: np.ndarray, decode_hw: tuple[int, int],
                 crop: tuple[int, int, int], flip: bool, patch: int, tubelet: int,
                 frames: np.ndarray) -> TokenMotion:
    """Maps `motion` onto the token grid of a clip sampled at `frame_idx`, decoded at
    `decode_hw`, cropped at (top, left, size) and maybe flipped. `frames` (T_frames, S, S)
    is the cropped clip's luminance, for the frame-difference fallback.

    A codec vector sits at the block's position in the frame it belongs to, so the source
    frames (s_{t-1}, s_t] (s_t: step t's first frame) give step t's motion at step t's
    positions; step 0 uses the frames just before it, or those after it at a video's start."""
    top, left, size = crop
    g = size // patch
    steps = len(frame_idx) // tubelet
    sy, sx = motion.source_hw[0] / decode_hw[0], motion.source_hw[1] / decode_hw[1]
    centers = (np.arange(g) + 0.5) * patch
    rows = np.clip(((top + centers) * sy) // MOTION_CELL, 0, motion.displacement.shape[2] - 1).astype(int)
    cols = np.clip(((left + centers) * sx) // MOTION_CELL, 0, motion.displacement.shape[3] - 1).astype(int)
    if flip:
        cols = cols[::-1]
    per_frame = motion.displacement[:, :, rows][:, :, :, cols].astype(np.float32)  # (F, 2, g, g)
    per_frame[:, 0] /= sx * patch * (-1 if flip else 1)
    per_frame[:, 1] /= sy * patch
    starts = [int(frame_idx[t * tubelet]) for t in range(steps)]
    stride = starts[1] - starts[0] if steps > 1 else tubelet
    score = np.zeros((steps, g, g), np.float32)
    disp = np.zeros((steps, 2, g, g), np.float32)
    from_vectors = np.zeros(steps, bool)
    for t in range(steps):
        lo = starts[t - 1] if t else starts[0] - stride
        span = _with_vectors(motion, max(lo, 0) + 1, starts[t])
        if t == 0 and not span:
            span = _with_vectors(motion, starts[0] + 1, starts[0] + stride)
        if span:
            vectors = per_frame[span]
            score[t] = np.linalg.norm(vectors, axis=1).mean(axis=0)
            disp[t] = vectors.sum(axis=0)
            from_vectors[t] = True
        else:
            score[t] = _frame_difference(frames, t, tubelet, patch)
    return TokenMotion(score, disp, from_vectors)


def _with_vectors(motion: VideoMotion, first: int, last: int) -> list[int]:
    return [f for f in range(first, min(last, len(motion.present) - 1) + 1) if motion.present[f]]


def _frame_difference(frames: np.ndarray, t: int, tubelet: int, patch: int) -> np.ndarray:
    """Mean absolute difference per token between step t's first frame and the frame before
    it (the next one for the first step)."""
    f1 = t * tubelet
    f0 = f1 - 1 if f1 > 0 else min(1, len(frames) - 1)
    diff = np.abs(frames[f1].astype(np.float32) - frames[f0].astype(np.float32))
    g = diff.shape[0] // patch
    return diff[:g * patch, :g * patch].reshape(g, patch, g, patch).mean(axis=(1, 3))
