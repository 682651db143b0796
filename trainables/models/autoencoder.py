"""Masked video autoencoder: the encoder on visible tokens, then one light decoder per
reconstruction target (VideoMAE's decoder: mask tokens + positions → blocks → head),
each predicting its target on the masked tokens only. With a regressor (MAM2's
encoder–regressor–decoder), a few cross-attention blocks first predict the masked tokens'
latents from the visible ones, so the decoders never feed back into the encoder's tokens."""
from __future__ import annotations

import torch
from torch import nn

from trainables.models.presets import heads_for
from trainables.models.vit import VideoViT, _init_weights, gather_visible, position_table, transformer_blocks


class Decoder(nn.Module):
    def __init__(self, encoder_dim: int, grid: tuple[int, int, int], dim: int, depth: int, heads: int,
                 target_dim: int, mask_token: bool = True, positions: str = "sincos_1d"):
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        # behind a regressor the masked positions arrive as regressed latents: no mask token
        # (an unused parameter would also stop DDP)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim)) if mask_token else None
        self.register_buffer("pos", position_table(grid, dim, positions), persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, target_dim)
        self.apply(_init_weights)
        if self.mask_token is not None:
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, visible: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor | None = None):
        """visible (B, Nv, enc_dim); `masked` (B, Nm, enc_dim) regressed latents, else mask tokens
        → (B, Nm, target_dim) in token order."""
        b = visible.shape[0]
        pos = self.pos.expand(b, -1, -1).to(visible.dtype)
        masked_pos = pos[mask].reshape(b, -1, pos.shape[-1])
        queries = self.mask_token.to(visible.dtype) if masked is None else self.embed(masked)
        tokens = torch.cat([self.embed(visible) + gather_visible(pos, mask), queries + masked_pos], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens[:, -masked_pos.shape[1]:]))


class CrossBlock(nn.Module):
    """Mask queries attend to the visible latents and to each other; visible latents stay fixed."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, queries: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        q = self.norm_q(queries)
        kv = self.norm_kv(torch.cat([visible, queries], dim=1))
        queries = queries + self.attn(q, kv, kv, need_weights=False)[0]
        return queries + self.mlp(self.norm_mlp(queries))


class Regressor(nn.Module):
    def __init__(self, dim: int, grid: tuple[int, int, int], depth: int, positions: str = "sincos_1d"):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos", position_table(grid, dim, positions), persistent=False)
        self.blocks = nn.ModuleList(CrossBlock(dim, heads_for(dim)) for _ in range(depth))
        self.apply(_init_weights)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, visible: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b = visible.shape[0]
        pos = self.pos.expand(b, -1, -1).to(visible.dtype)
        queries = self.query.to(visible.dtype) + pos[mask].reshape(b, -1, pos.shape[-1])
        visible = visible + gather_visible(pos, mask)
        for block in self.blocks:
            queries = block(queries, visible)
        return queries


class ReconstructionHead(nn.Module):
    """Everything after the encoder: the optional regressor and one decoder per target.
    Fine-tuning keeps it when MAR's reconstruction branch stays on (finetune.mae_loss_weight)."""

    def __init__(self, encoder_dim: int, grid: tuple[int, int, int], decoder_dim: int, decoder_depth: int,
                 decoder_heads: int, target_dims: dict[str, int], regressor_depth: int = 0,
                 positions: str = "sincos_1d"):
        super().__init__()
        self.regressor = Regressor(encoder_dim, grid, regressor_depth, positions) if regressor_depth else None
        self.decoders = nn.ModuleDict({
            name: Decoder(encoder_dim, grid, decoder_dim, decoder_depth, decoder_heads, dim,
                          mask_token=self.regressor is None, positions=positions)
            for name, dim in target_dims.items()})

    def forward(self, visible: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """visible latents (B, N_visible, enc_dim) → {target: (B, N_masked, dim)}, in token order."""
        masked = self.regressor(visible, mask) if self.regressor is not None else None
        return {name: decoder(visible, mask, masked) for name, decoder in self.decoders.items()}


class MaskedAutoencoder(nn.Module):
    def __init__(self, encoder: VideoViT, reconstruction: ReconstructionHead):
        super().__init__()
        self.encoder = encoder
        self.reconstruction = reconstruction

    def forward(self, video: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """→ {target: predictions for the masked tokens (B, N_masked, dim)}, in token order."""
        return self.reconstruction(self.encoder(video, mask), mask)
