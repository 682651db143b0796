"""synthetic-actions: short H.264 clips of an L-shaped object that moves, turns or changes
size (trainables/data/classes.py). Written with PyAV; lists in the VideoMAE `path label` form.

Two styles. `flat` (the default): one colour per clip for the background and one for the
object, no noise — a hidden token is either exactly flat (its per-token normalized target is
zero) or shows the object's edge, which only the object's motion predicts. `textured`: the
object textured, over a smooth-noise, striped, pixel-noisy background that sometimes pans —
per-token normalization turns its low-contrast background into unit-variance noise that no
visible token predicts, so masked pretraining stays at its floor there (benchmarks/RESULTS.md)."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from trainables.data.classes import SYNTH_CLASSES, SYNTH_STYLES

SPLITS = (("train", 0.7), ("val", 0.15), ("test", 0.15))
PAN_PROBABILITY = 0.3


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    coarse = rng.random((h // cell + 2, w // cell + 2, 3))
    up = np.kron(coarse, np.ones((cell, cell, 1)))[:h, :w]
    return up


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = 0.4 + 0.2 * _smooth_noise(rng, h, w, max(4, h // 8))
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, np.pi)
    stripes = 0.06 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.2, 0.5))
    return np.clip(base + stripes[..., None] + 0.03 * rng.standard_normal((h, w, 3)), 0, 1)


# An L-shaped object in unit coordinates: asymmetric, so rotation sense is visible.
_SHAPE = ((-1.0, -1.0, -0.35, 1.0), (-1.0, 0.35, 1.0, 1.0))  # (x0, y0, x1, y1) rectangles


def _object_mask(size: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = (xx - cx) / radius, (yy - cy) / radius
    c, s = np.cos(-angle), np.sin(-angle)
    u, v = c * dx - s * dy, s * dx + c * dy
    inside = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in _SHAPE:
        inside |= (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)
    return inside


def render_clip(label: int, rng: np.random.Generator, size: int = 64, frames: int = 16,
                style: str = "flat") -> np.ndarray:
    """uint8 (frames, size, size, 3) for class `label`."""
    name = SYNTH_CLASSES[label]
    if style == "textured":
        pan = rng.random() < PAN_PROBABILITY
        margin = size // 2 if pan else 0
        bg = _background(rng, size + 2 * margin, size + 2 * margin)
        pan_v = rng.uniform(-0.5, 0.5, 2) * (margin / frames) if pan else np.zeros(2)
    else:
        pan, margin = False, 0
        bg = np.broadcast_to(rng.uniform(0.2, 0.8, 3), (size, size, 3))
    color = rng.uniform(0.0, 1.0, 3)
    color[rng.integers(3)] = rng.choice([0.05, 0.95])  # keep it distinct from the background
    texture = 0.85 + 0.15 * _smooth_noise(rng, size, size, 3) if style == "textured" else np.ones((size, size, 1))

    radius = size * rng.uniform(0.18, 0.24)
    travel = size * rng.uniform(0.5, 0.65)
    cx, cy = size / 2 + rng.uniform(-0.05, 0.05, 2) * size
    angle0 = rng.uniform(0, 2 * np.pi)
    spin = rng.uniform(0.5, 1.0) * np.pi
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    for f in range(frames):
        p = f / (frames - 1) - 0.5  # -0.5 → 0.5
        x, y, r, a = cx, cy, radius, angle0
        if name == "move_left":
            x = cx - p * travel
        elif name == "move_right":
            x = cx + p * travel
        elif name == "move_up":
            y = cy - p * travel
        elif name == "move_down":
            y = cy + p * travel
        elif name == "rotate_clockwise":
            a = angle0 + p * spin
        elif name == "rotate_counterclockwise":
            a = angle0 - p * spin
        elif name == "grow":
            r = radius * (1.0 + 0.9 * p)
        elif name == "shrink":
            r = radius * (1.0 - 0.9 * p)
        ox, oy = (margin + pan_v * f).astype(int) if pan else (0, 0)
        frame = bg[oy:oy + size, ox:ox + size].copy()
        inside = _object_mask(size, x, y, r, a)
        frame[inside] = (color * texture)[inside]
        out[f] = (frame * 255).round().astype(np.uint8)
    return out


def write_h264(path: Path, frames: np.ndarray, fps: int = 16, gop: int = 8) -> None:
    """H.264 (libx264, yuv420p, no B-frames) in an mp4 container."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"bf": "0", "g": str(gop), "crf": "20", "preset": "veryfast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate(root: str | Path, clips_per_class: int = 40, size: int = 64, frames: int = 16,
             fps: int = 16, seed: int = 0, test_clips_per_class: int | None = None, style: str = "flat") -> dict:
    """Writes `root/videos/*.mp4` and `root/{train,val,test}.csv`; returns the manifest.
    `clips_per_class` is split 70/15/15; `test_clips_per_class` replaces the test share."""
    if style not in SYNTH_STYLES:
        raise ValueError(f"unknown synthetic-actions style {style!r}; one of {', '.join(SYNTH_STYLES)}")
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {s: [] for s, _ in SPLITS}
    # every split gets a clip of every class, even at the smallest size (3 clips per class)
    n_val = max(1, round(SPLITS[1][1] * clips_per_class))
    n_train = min(round(SPLITS[0][1] * clips_per_class), clips_per_class - n_val - 1)
    bounds = [n_train, n_train + n_val]
    per_class = n_train + n_val + (test_clips_per_class or clips_per_class - n_train - n_val)
    for label in range(len(SYNTH_CLASSES)):
        for i in range(per_class):
            split = SPLITS[int(np.searchsorted(bounds, i, side="right"))][0]
            rel = f"videos/{SYNTH_CLASSES[label]}_{i:04d}.mp4"
            # each clip its own stream: a larger test split leaves the other clips as they were
            write_h264(root / rel, render_clip(label, np.random.default_rng([seed, label, i]), size, frames, style), fps)
            rows[split].append(f"{rel} {label}")
    for split, lines in rows.items():
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    manifest = {"dataset": "synthetic-actions", "classes": list(SYNTH_CLASSES),
                "clips_per_class": clips_per_class, "test_clips_per_class": test_clips_per_class, "style": style, "size": size, "frames": frames, "fps": fps,
                "seed": seed, "splits": {s: len(r) for s, r in rows.items()}}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure(root: str | Path, **params) -> dict:
    """Generates the dataset unless `root` already holds one made with the same parameters."""
    manifest_path = Path(root) / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in params.items()):
            return manifest
    return generate(root, **params)
