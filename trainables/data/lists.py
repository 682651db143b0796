"""Annotation lists in the VideoMAE/Kinetics/SSv2 convention: one `path label` per line
(space or comma separated; the label is the last field, so paths may hold spaces).
Relative paths resolve against the list file's folder."""
from __future__ import annotations

from pathlib import Path


class ListFormatError(ValueError):
    pass


def read_utf8(path: Path) -> str:
    """A text file's content: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"
    has one). Anything else is a ValueError saying what the file seems to be."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        kind = "UTF-16 text" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "not UTF-8 text"
        raise ValueError(f"{kind} (byte {e.start}); save it as UTF-8") from None


def read_list(list_path: str | Path, num_classes: int | None = None) -> list[tuple[str, int]]:
    list_path = Path(list_path)
    items: list[tuple[str, int]] = []
    problems: list[str] = []
    try:
        text = read_utf8(list_path)
    except ValueError as e:
        raise ListFormatError(f"{list_path}: {e}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "," if "," in line and " " not in line.rsplit(",", 1)[-1] else None
        parts = line.rsplit(sep, 1)
        if len(parts) != 2 or not parts[1].strip().lstrip("-").isdigit():
            problems.append(f"{list_path}:{lineno}: expected 'path label', got {line!r}")
            continue
        rel, label = parts[0].strip(), int(parts[1])
        if label < 0 or (num_classes is not None and label >= num_classes):
            problems.append(f"{list_path}:{lineno}: label {label} outside [0, {num_classes})")
            continue
        path = Path(rel)
        items.append((str(path if path.is_absolute() else list_path.parent / path), label))
    if problems:
        raise ListFormatError("\n".join(problems[:20]))
    if not items:
        raise ListFormatError(f"{list_path}: no clips listed")
    return items
