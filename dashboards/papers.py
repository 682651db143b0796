"""Published numbers of the seed papers for the ablations maskray reproduces, shown beside a
study's own results and always labelled as the papers'. Sources and their status are those
of ../shared/PAPERS.md ("unverified" entries are marked as such in the report)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    title: str
    source: str          # paper and where in it
    status: str          # "code", "abstract/README" or "unverified"
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    applies_to: tuple[str, ...]   # axis paths or strategy/target names that make it relevant


PUBLISHED = (
    Published(
        "VideoMAE: masking strategy and ratio (ViT-B, 800 epochs)",
        "Tong et al., NeurIPS 2022, ablation table on mask sampling", "unverified",
        ("strategy", "ratio", "SSv2 top-1", "K400 top-1"),
        (("tube", 0.75, 68.0, 79.8), ("tube", 0.9, 69.6, 80.0), ("random", 0.9, 68.3, 79.5),
         ("frame", 0.875, 61.5, 76.5)),
        ("pretrain.masking.strategy", "pretrain.masking.ratio", "tube", "random", "frame")),
    Published(
        "MAR: masked fine-tuning and inference (ViT-B)",
        "Qing et al., 2022 (arXiv 2207.11660), abstract", "abstract/README",
        ("setting", "visible tokens", "GMACs", "note"),
        (("full fine-tuning", "1568 / 1568", "≈178", "VideoMAE ViT-B"),
         ("cell running 50 % + bridging classifier", "784 / 1568", "≈86", "−53 % compute, accuracy kept")),
        ("finetune.masking.strategy", "finetune.masking.ratio", "cell_running")),
    Published(
        "EVAD: keyframe-centric token dropout (AVA v2.2, ViT-B, K400 init)",
        "Chen et al., ICCV 2023, README", "abstract/README",
        ("keep rate", "enhanced weight", "GFLOPs", "mAP"),
        ((1.0, 1, 425, 32.1), (0.7, 1, 243, 32.3), (0.6, 4, 209, 31.8)),
        ("finetune.masking.keep_rate", "keyframe")),
    Published(
        "MGM: motion-guided masking from codec motion vectors",
        "Fan et al., ICCV 2023 (arXiv 2308.12962), abstract", "abstract/README",
        ("claim", "value"),
        (("over previous best on K400 / SSv2", "up to +1.3 %"),
         ("same accuracy with fewer pretraining epochs", "up to 66 % fewer"),
         ("transfer to UCF101 / HMDB51 / Diving48", "up to +4.9 %")),
        ("motion_guided",)),
    Published(
        "MAM2: RGB-difference and VQ-code targets, two decoders (ViT-B, 400 epochs)",
        "Song et al., 2022 (arXiv 2210.05234), abstract", "abstract/README",
        ("dataset", "top-1"),
        (("K400", 82.3), ("SSv2", 71.3), ("UCF101", 91.5), ("HMDB51", 62.5)),
        ("pretrain.target", "rgb_diff", "vq_codes")),
)


def relevant(axes: list[str], values: set[str]) -> list[Published]:
    """The published tables that concern a study's axes or the strategies/targets it uses."""
    texts = {str(v) for v in values}   # a section axis's value names its strategy inside a dict
    def named(key: str) -> bool:
        return key in axes or key in texts or any(f"'{key}'" in text for text in texts)
    return [p for p in PUBLISHED if any(named(key) for key in p.applies_to)]
