"""Mask generation cost per clip (8×14×14 grid, each strategy; goal ≤ 1 ms) and the cost of
extracting codec motion vectors relative to decoding the same clip once.

    python benchmarks/masking.py [--clips DIR]

DIR: a folder of videos (default: a synthetic-actions set generated in a temp folder)."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from trainables.config import MaskingConfig
from trainables.data import motion
from trainables.data.motion import TokenMotion
from trainables.masking import get_strategy

GRID = (8, 14, 14)
RATIOS = {"random": 0.9, "tube": 0.9, "frame": 0.875, "cell_running": 0.75, "motion_guided": 0.9}
GOAL_MS = 1.0


def per_clip_ms(name: str, repeats: int = 300) -> float:
    strategy = get_strategy(name)
    m = MaskingConfig(strategy=name, ratio=RATIOS[name])
    rng = np.random.default_rng(0)
    t, h, w = GRID
    token_motion = TokenMotion(rng.random((t, h, w), dtype=np.float32),
                               rng.normal(0, 1, (t, 2, h, w)).astype(np.float32), np.ones(t, bool))
    strategy.sample(m, GRID, rng, motion=token_motion)
    started = time.perf_counter()
    for _ in range(repeats):
        strategy.sample(m, GRID, rng, train=True, motion=token_motion)
    return (time.perf_counter() - started) / repeats * 1e3


def extraction_vs_decode(videos: list[Path]) -> float:
    import decord
    started = time.perf_counter()
    for v in videos:
        reader = decord.VideoReader(str(v), num_threads=1)
        reader.get_batch(list(range(len(reader)))).asnumpy()
    decode = time.perf_counter() - started
    started = time.perf_counter()
    for v in videos:
        motion.extract(v)
    extract = time.perf_counter() - started
    print(f"{len(videos)} clips: decode {decode / len(videos) * 1e3:.1f} ms/clip, "
          f"motion-vector extraction {extract / len(videos) * 1e3:.1f} ms/clip")
    return extract / decode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", help="a folder of videos")
    args = ap.parse_args()
    results = {name: per_clip_ms(name) for name in RATIOS}
    for name, ms in results.items():
        print(f"{name:14s} {ms:.3f} ms per {GRID} mask")
    with tempfile.TemporaryDirectory() as tmp:
        if args.clips:
            videos = sorted(p for p in Path(args.clips).rglob("*.mp4") if motion.CACHE_DIR not in p.parts)[:200]
        else:
            from trainables.data import synth
            synth.generate(tmp, clips_per_class=8, size=64, frames=16)
            videos = sorted(Path(tmp, "videos").glob("*.mp4"))
        ratio = extraction_vs_decode(videos)
    for name, ms in results.items():
        print(f"RESULT mask_ms_{name} ratio={ms / GOAL_MS:.3f} goal=1.0 met={'yes' if ms <= GOAL_MS else 'no'}")
    print(f"RESULT motion_extract_vs_decode ratio={ratio:.2f} goal=none met=n/a")


if __name__ == "__main__":
    main()
