"""`maskray data motion DIR`: extracts and caches the codec motion vectors of a dataset up
front (training would otherwise do it lazily, on first use of each clip)."""
from __future__ import annotations

from pathlib import Path

from trainables.data import motion
from trainables.data.lists import read_list

VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov", ".ogv", ".m4v"}


def dataset_videos(root: Path) -> list[Path]:
    """The videos of root's train/val/test lists when it has any, else every video under it."""
    lists = [root / f"{split}.csv" for split in ("train", "val", "test") if (root / f"{split}.csv").is_file()]
    if lists:
        return sorted({Path(path) for listing in lists for path, _ in read_list(listing)})
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
                  and motion.CACHE_DIR not in p.parts)


def extract_dataset(root: str | Path) -> int:
    root = Path(root)
    if not root.is_dir():
        print(f"error: {root} is not a directory")
        return 2
    return extract(root, dataset_videos(root))


def extract_lists(list_paths: list[str]) -> int:
    videos = sorted({Path(path) for listing in list_paths for path, _ in read_list(listing)})
    return extract(Path(list_paths[0]).parent, videos)


def extract(root: Path, videos: list[Path]) -> int:
    """Caches every video's motion; unreadable ones are listed (training skips or fails them)."""
    done = without = 0
    unreadable: list[str] = []
    for video in videos:
        try:
            if not motion.load(video).any_vectors:
                without += 1
            done += 1
        except Exception as e:  # PyAV/FFmpeg errors of a broken file
            unreadable.append(f"{video}: {type(e).__name__}: {e}")
    print(f"{root}: {len(videos)} videos, motion cached for {done} in <video dir>/{motion.CACHE_DIR}/; "
          f"{without} carry no motion vectors (frame differences are used)")
    for line in unreadable:
        print(f"UNREADABLE: {line}")
    return 2 if unreadable else 0
