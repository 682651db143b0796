"""Fine-tuning heads: VideoMAE's (mean pool over tokens → LayerNorm → dropout → linear) and
MAR's bridging classifier (Linear without bias → transformer blocks on the encoder's
visible-token outputs, then the same pool → norm → dropout → linear)."""
from __future__ import annotations

import torch
from torch import nn

from trainables.models.token_dropout import TokenDropout
from trainables.models.vit import VideoViT, _init_weights, transformer_blocks


class VideoClassifier(nn.Module):
    def __init__(self, encoder: VideoViT, num_classes: int, dropout: float = 0.0,
                 token_dropout: TokenDropout | None = None, bridge: tuple[int, int, int] | None = None,
                 reconstruction: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.reconstruction = reconstruction     # MAR: the pretraining decoders, kept on
        self.token_dropout = token_dropout
        width = encoder.dim
        self.bridge = None
        if bridge is not None:  # MAR's bridging classifier: (width, blocks, heads)
            width, depth, heads = bridge
            self.bridge = nn.Sequential(nn.Linear(encoder.dim, width, bias=False),
                                        *transformer_blocks(width, depth, heads))
            self.bridge.apply(_init_weights)
        self.fc_norm = nn.LayerNorm(width, eps=1e-6)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None, reconstruct: bool = False):
        """Logits from the mean over the tokens the encoder kept: all, the visible ones (masked
        fine-tuning), or those that survived keyframe dropout. With `reconstruct` (masked
        fine-tuning with MAR's reconstruction branch): (logits, {target: masked-token predictions})."""
        visible = self.encoder(video, mask, self.token_dropout)
        tokens = self.bridge(visible) if self.bridge is not None else visible
        logits = self.head(self.drop(self.fc_norm(tokens.mean(dim=1))))
        if reconstruct:
            return logits, self.reconstruction(visible, mask)
        return logits

    def layer_id(self, name: str) -> int:
        """0 for the embedding, i+1 for block i, depth+1 for everything after (layer decay)."""
        if name.startswith("encoder.patch_embed"):
            return 0
        if name.startswith("encoder.blocks."):
            return int(name.split(".")[2]) + 1
        return self.encoder.depth + 1
