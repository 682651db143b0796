"""Fine-tuning head (VideoMAE): mean pool over tokens → LayerNorm → dropout → linear."""
from __future__ import annotations

import torch
from torch import nn

from trainables.models.vit import VideoViT


class VideoClassifier(nn.Module):
    def __init__(self, encoder: VideoViT, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.fc_norm = nn.LayerNorm(encoder.dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.fc_norm(self.encoder(video).mean(dim=1))))

    def layer_id(self, name: str) -> int:
        """0 for the embedding, i+1 for block i, depth+1 for everything after (layer decay)."""
        if name.startswith("encoder.patch_embed"):
            return 0
        if name.startswith("encoder.blocks."):
            return int(name.split(".")[2]) + 1
        return self.encoder.depth + 1
