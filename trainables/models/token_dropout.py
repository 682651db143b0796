"""Keyframe-centric token dropout (EVAD) inside the encoder.

The keyframe is the middle tubelet step; its tokens are never dropped. In each dropping
block, after attention and before the MLP, every other token is scored by the attention it
receives (mean over heads and over queries, the keyframe's query rows weighted by
`enhanced_weight`), and the best are kept so that ceil(keep_rate × current) tokens remain."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenDropout:
    keep_rate: float
    layers: tuple[int, ...]     # 1-based blocks that drop after their attention
    enhanced_weight: float = 1.0

    @classmethod
    def from_masking(cls, m, depth: int) -> "TokenDropout":
        from trainables.masking.keyframe import drop_layers
        return cls(m.keep_rate, tuple(drop_layers(m, depth)), m.enhanced_weight)


def keyframe_first(grid: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
    """A token order with the keyframe's tokens first, and how many they are."""
    t, h, w = grid
    step = torch.arange(t * h * w) // (h * w)
    key = step == t // 2
    return torch.cat([key.nonzero()[:, 0], (~key).nonzero()[:, 0]]), int(key.sum())


def attention_with_scores(attn, x: torch.Tensor, n_key: int, enhanced_weight: float):
    """timm Attention's output for `x`, and the attention each token receives (B, N)."""
    b, n, c = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    probs = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)       # (B, H, N, N)
    out = (attn.attn_drop(probs) @ v).transpose(1, 2).reshape(b, n, -1)
    out = attn.proj_drop(attn.proj(attn.norm(out)))
    weights = torch.ones(n, dtype=probs.dtype, device=probs.device)
    weights[:n_key] = enhanced_weight
    received = (probs.mean(dim=1) * weights[None, :, None]).sum(dim=1) / weights.sum()
    return out, received


def block_with_dropout(block, x: torch.Tensor, positions: torch.Tensor, n_key: int,
                       drop: TokenDropout):
    """One timm Block that drops tokens between attention and MLP; keyframe tokens (the
    first `n_key`) always stay first. → (tokens, their original positions)."""
    y, received = attention_with_scores(block.attn, block.norm1(x), n_key, drop.enhanced_weight)
    x = x + block.drop_path1(block.ls1(y))
    n = x.shape[1]
    keep = max(n_key, math.ceil(drop.keep_rate * n))
    if keep < n:
        top = received[:, n_key:].topk(keep - n_key, dim=1).indices.sort(dim=1).values + n_key
        key = torch.arange(n_key, device=x.device).expand(x.shape[0], -1)
        index = torch.cat([key, top], dim=1)
        x = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))
        positions = positions.gather(1, index)
    x = x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
    return x, positions
