"""Masked video autoencoder (VideoMAE): encoder on visible tokens, a light decoder with
mask tokens and positions that predicts the target of the masked tokens only."""
from __future__ import annotations

import torch
from torch import nn

from trainables.models.vit import VideoViT, _init_weights, gather_visible, sincos_table, transformer_blocks


class MaskedAutoencoder(nn.Module):
    def __init__(self, encoder: VideoViT, decoder_dim: int, decoder_depth: int,
                 decoder_heads: int, target_dim: int):
        super().__init__()
        self.encoder = encoder
        self.decoder_embed = nn.Linear(encoder.dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("decoder_pos", sincos_table(encoder.num_tokens, decoder_dim),
                             persistent=False)
        self.decoder_blocks = transformer_blocks(decoder_dim, decoder_depth, decoder_heads)
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.head = nn.Linear(decoder_dim, target_dim)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.head):
            module.apply(_init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """→ predictions for the masked tokens, (B, N_masked, target_dim), in token order."""
        latent = self.decoder_embed(self.encoder(video, mask))
        b = latent.shape[0]
        pos = self.decoder_pos.expand(b, -1, -1).to(latent.dtype)
        visible = latent + gather_visible(pos, mask)
        masked_pos = pos[mask].reshape(b, -1, pos.shape[-1])
        tokens = torch.cat([visible, self.mask_token.to(latent.dtype) + masked_pos], dim=1)
        for block in self.decoder_blocks:
            tokens = block(tokens)
        n_masked = masked_pos.shape[1]
        return self.head(self.decoder_norm(tokens[:, -n_masked:]))
