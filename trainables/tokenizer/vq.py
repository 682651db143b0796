"""A patch-level VQ tokenizer: one code per token (tubelet × patch × patch pixels), the
same grid the video ViT predicts on.

An MLP encodes a token's pixels to a `code_dim` vector, which snaps to the nearest of
`codebook_size` codes by cosine similarity (unit-norm codes and inputs, as ViT-VQGAN, keep
the codebook in use); an MLP decodes the code back to pixels. Training: reconstruction MSE
+ codebook and commitment losses with a straight-through gradient, and codes unused in an
epoch are restarted on random encoder outputs. Much smaller than MAM2's VQGAN (no
convolutions across tokens, no perceptual or adversarial loss): it gives each token a
discrete appearance class, which is what the `vq_codes` target asks the decoder to predict."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchVQ(nn.Module):
    def __init__(self, token_dim: int, codebook_size: int, code_dim: int, hidden: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(token_dim, hidden), nn.GELU(), nn.Linear(hidden, code_dim))
        self.codebook = nn.Parameter(torch.randn(codebook_size, code_dim))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.GELU(), nn.Linear(hidden, token_dim))

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., token_dim) pixels in [0, 1] → unit-norm latents (..., code_dim)."""
        return F.normalize(self.encoder(tokens - 0.5), dim=-1)

    def nearest(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents @ F.normalize(self.codebook, dim=-1).t()).argmax(dim=-1)

    @torch.no_grad()
    def codes(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., token_dim) → code indices (...,) long."""
        return self.nearest(self.encode(tokens))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(F.normalize(self.codebook, dim=-1)[codes]) + 0.5

    def forward(self, tokens: torch.Tensor, commitment: float) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """→ (reconstruction, codes, losses) for training."""
        latents = self.encode(tokens)
        codes = self.nearest(latents)
        quantized = F.normalize(self.codebook, dim=-1)[codes]
        codebook_loss = F.mse_loss(quantized, latents.detach())
        commit_loss = F.mse_loss(latents, quantized.detach())
        straight = latents + (quantized - latents).detach()
        reconstruction = self.decoder(straight) + 0.5
        recon_loss = F.mse_loss(reconstruction, tokens)
        total = recon_loss + codebook_loss + commitment * commit_loss
        return reconstruction, codes, {"total": total, "reconstruction": recon_loss}

    @torch.no_grad()
    def restart_unused(self, used: torch.Tensor, latents: torch.Tensor, generator: torch.Generator) -> int:
        """Moves the codes no token chose onto random recent latents; → how many moved."""
        dead = (~used).nonzero().flatten()
        if len(dead) and len(latents):
            picks = torch.randint(0, len(latents), (len(dead),), generator=generator)
            self.codebook[dead] = latents[picks].to(self.codebook.dtype)
        return len(dead)
