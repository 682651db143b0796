"""Builds the models of a trial from its config."""
from __future__ import annotations

from trainables.masking import get_strategy
from trainables.models.autoencoder import MaskedAutoencoder, ReconstructionHead
from trainables.models.classifier import VideoClassifier
from trainables.models.presets import PRESETS, heads_for
from trainables.models.token_dropout import TokenDropout
from trainables.models.vit import VideoViT
from trainables.targets import get_target


def build_encoder(cfg) -> VideoViT:
    p = PRESETS[cfg.model.preset]
    return VideoViT(cfg.token_grid, cfg.model.patch_size, cfg.model.tubelet_size,
                    p.dim, p.depth, p.heads, cfg.model.drop_path, cfg.model.positions)


def build_reconstruction_head(cfg) -> ReconstructionHead:
    """One decoder per pretraining target (`pretrain.loss_weights`), optionally behind a regressor."""
    p = PRESETS[cfg.model.preset]
    dim = cfg.model.decoder_dim or p.decoder_dim
    depth = cfg.model.decoder_depth or p.decoder_depth
    dims = {name: get_target(name).output_dim(cfg) for name in cfg.pretrain.loss_weights}
    regressor = cfg.pretrain.regressor.depth if cfg.pretrain.regressor else 0
    return ReconstructionHead(p.dim, cfg.token_grid, dim, depth, heads_for(dim), dims, regressor, cfg.model.positions)


def build_autoencoder(cfg) -> MaskedAutoencoder:
    return MaskedAutoencoder(build_encoder(cfg), build_reconstruction_head(cfg))


def token_dropout(cfg) -> TokenDropout | None:
    """EVAD's keyframe dropout when fine-tuning uses the `keyframe` strategy."""
    m = cfg.finetune.masking
    if m is None or not get_strategy(m.strategy).in_encoder:
        return None
    return TokenDropout.from_masking(m, PRESETS[cfg.model.preset].depth)


def build_classifier(cfg) -> VideoClassifier:
    f = cfg.finetune
    bridge = (f.bridge_dim, f.bridge_depth, f.bridge_heads) if f.head == "bridging" else None
    reconstruction = build_reconstruction_head(cfg) if f.mae_loss_weight > 0 else None
    return VideoClassifier(build_encoder(cfg), cfg.data.classes, f.head_dropout, token_dropout(cfg), bridge,
                           reconstruction)
