"""Fine-tuning head (VideoMAE): mean pool over tokens → LayerNorm → dropout → linear."""
from __future__ import annotations

import torch
from torch import nn

from trainables.models.token_dropout import TokenDropout
from trainables.models.vit import VideoViT


class VideoClassifier(nn.Module):
    def __init__(self, encoder: VideoViT, num_classes: int, dropout: float = 0.0,
                 token_dropout: TokenDropout | None = None):
        super().__init__()
        self.encoder = encoder
        self.token_dropout = token_dropout
        self.fc_norm = nn.LayerNorm(encoder.dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over the tokens the encoder kept: all, the visible ones (masked fine-tuning),
        or those that survived keyframe dropout."""
        tokens = self.encoder(video, mask, self.token_dropout)
        return self.head(self.drop(self.fc_norm(tokens.mean(dim=1))))

    def layer_id(self, name: str) -> int:
        """0 for the embedding, i+1 for block i, depth+1 for everything after (layer decay)."""
        if name.startswith("encoder.patch_embed"):
            return 0
        if name.startswith("encoder.blocks."):
            return int(name.split(".")[2]) + 1
        return self.encoder.depth + 1
