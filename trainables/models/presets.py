"""Model sizes, from `nano` (CPU tests) to the papers' `base` and `large`."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    dim: int
    depth: int
    heads: int
    decoder_dim: int
    decoder_depth: int


PRESETS = {
    "nano": Preset(dim=64, depth=4, heads=4, decoder_dim=32, decoder_depth=1),
    "tiny": Preset(dim=192, depth=12, heads=3, decoder_dim=96, decoder_depth=4),
    "small": Preset(dim=384, depth=12, heads=6, decoder_dim=192, decoder_depth=4),
    "base": Preset(dim=768, depth=12, heads=12, decoder_dim=384, decoder_depth=4),
    "large": Preset(dim=1024, depth=24, heads=16, decoder_dim=512, decoder_depth=4),
}


def heads_for(dim: int) -> int:
    """64-wide heads where the width allows (VideoMAE's decoders), else 32-wide, else one."""
    for head_dim in (64, 32):
        if dim >= head_dim and dim % head_dim == 0:
            return dim // head_dim
    return 1
