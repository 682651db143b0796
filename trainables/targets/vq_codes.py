"""MAM2's appearance target: the code index of every token under a VQ tokenizer trained
on the study's training split (trainables/tokenizer), predicted with cross-entropy over
the codebook."""
from __future__ import annotations

from trainables.targets.pixel import tubelet_pixels
from trainables.targets.registry import Target, register


@register("vq_codes")
class VQCodes(Target):
    loss = "cross_entropy"
    needs_tokenizer = True

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer

    def dim(self, tubelet, patch):
        return 1

    def output_dim(self, cfg) -> int:
        return cfg.pretrain.tokenizer.codebook_size

    def bind(self, tokenizer_dir, device) -> "VQCodes":
        if tokenizer_dir is None:
            raise ValueError("the vq_codes target needs its tokenizer (built by `maskray data tokenizer` "
                             "or by `maskray run` before launch)")
        from trainables.tokenizer.cache import load_tokenizer
        return VQCodes(load_tokenizer(tokenizer_dir, device))

    def __call__(self, video, tubelet, patch):
        """(B, 3, T, H, W) pixels in [0, 1] → code indices (B, N) long."""
        return self.tokenizer.codes(tubelet_pixels(video, tubelet, patch).flatten(2))
