"""Video ViT encoder: Conv3d tubelet embedding, fixed sin-cos positions, timm blocks.
It runs on the visible tokens only."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from trainables.models.token_dropout import TokenDropout, block_with_dropout, keyframe_first


POSITIONS = ("sincos_1d", "sincos_3d")


def _sincos(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(n,) positions → (n, dim) sin-cos features (even dims sine, odd cosine), float64."""
    i = torch.arange(dim, dtype=torch.float64)[None, :]
    angle = positions.to(torch.float64)[:, None] / torch.pow(10000.0, 2 * (i // 2) / dim)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))


def position_table(grid: tuple[int, int, int], dim: int, kind: str = "sincos_1d") -> torch.Tensor:
    """(1, T·H·W, dim) fixed positions of the (t, h, w) token order.
    sincos_1d: one sin-cos table over the flattened order (VideoMAE's).
    sincos_3d: separable, a third of the features each for t, h and w, so "the same place at
    another time" is one match of the h, w features: a small model learns to use the other
    frames much sooner (benchmarks/pretraining_learns.py)."""
    t, h, w = grid
    if kind == "sincos_1d":
        return _sincos(torch.arange(t * h * w), dim).float().unsqueeze(0)
    if kind != "sincos_3d":
        raise ValueError(f"unknown position table {kind!r}; known: {', '.join(POSITIONS)}")
    dh = dw = dim // 3 // 2 * 2
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    table = torch.cat([_sincos(tt.flatten(), dim - dh - dw), _sincos(hh.flatten(), dh), _sincos(ww.flatten(), dw)], 1)
    return table.float().unsqueeze(0)


def transformer_blocks(dim: int, depth: int, heads: int, drop_path: float = 0.0) -> nn.ModuleList:
    rates = torch.linspace(0, drop_path, depth).tolist() if depth else []
    return nn.ModuleList(
        Block(dim, heads, mlp_ratio=4.0, qkv_bias=True, drop_path=r,
              norm_layer=partial(nn.LayerNorm, eps=1e-6))
        for r in rates)


def gather_visible(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, N, D) → (B, N_visible, D); every clip must have the same visible count."""
    b, n, d = tokens.shape
    return tokens[~mask].reshape(b, -1, d)


class VideoViT(nn.Module):
    def __init__(self, grid: tuple[int, int, int], patch_size: int, tubelet_size: int,
                 dim: int, depth: int, heads: int, drop_path: float = 0.0, positions: str = "sincos_1d"):
        super().__init__()
        self.grid = grid
        self.dim = dim
        self.depth = depth
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.patch_embed = nn.Conv3d(3, dim, kernel_size=(tubelet_size, patch_size, patch_size),
                                     stride=(tubelet_size, patch_size, patch_size))
        self.register_buffer("pos_embed", position_table(grid, dim, positions), persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads, drop_path)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_weights)

    @property
    def num_tokens(self) -> int:
        return self.pos_embed.shape[1]

    def patchify(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) → (B, N, 3·t·p·p), tokens in (t, h, w) order, values in the
        Conv3d weight's (c, t, p, p) order."""
        b, c, t, h, w = video.shape
        tt, p = self.tubelet_size, self.patch_size
        x = video.reshape(b, c, t // tt, tt, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * tt * p * p)

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None,
                dropout: TokenDropout | None = None) -> torch.Tensor:
        """video (B, 3, T, H, W); mask (B, N) bool, True = masked → (B, N_visible, dim).
        With `dropout` (EVAD), fewer tokens come out: see `forward_with_positions`."""
        return self.forward_with_positions(video, mask, dropout)[0]

    def forward_with_positions(self, video, mask=None, dropout: TokenDropout | None = None):
        """→ (tokens, their positions in the full grid after each block: list of (B, N_l))."""
        b = video.shape[0]
        patches = self.patchify(video)
        pos = self.pos_embed.expand(b, -1, -1)
        positions = torch.arange(patches.shape[1], device=video.device).expand(b, -1)
        if mask is not None:   # embed the visible tubelets only
            patches, pos = gather_visible(patches, mask), gather_visible(pos, mask)
            positions = positions[~mask].reshape(b, -1)
        # the Conv3d's weights applied as one matrix product: it has stride = kernel, and
        # cuDNN's 3-D convolution is slow on that shape (and would embed the masked tubelets too)
        tokens = F.linear(patches, self.patch_embed.weight.flatten(1), self.patch_embed.bias)
        tokens = tokens + pos.to(tokens.dtype)
        n_key = 0
        if dropout is not None:
            if mask is not None:
                raise ValueError("keyframe token dropout runs on the full token grid, not on a masked input")
            order, n_key = keyframe_first(self.grid)
            order = order.to(tokens.device)
            tokens, positions = tokens[:, order], positions[:, order]
        kept = []
        for number, block in enumerate(self.blocks, start=1):
            if dropout is not None and number in dropout.layers:
                tokens, positions = block_with_dropout(block, tokens, positions, n_key, dropout)
            else:
                tokens = block(tokens)
            kept.append(positions)
        return self.norm(tokens), kept


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv3d):
        nn.init.xavier_uniform_(m.weight.view(m.weight.shape[0], -1))
        nn.init.zeros_(m.bias)
