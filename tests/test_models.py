"""Model shapes; the encoder only ever sees visible tokens; normalized-pixel targets."""
import numpy as np
import pytest
import torch

from trainables.config import MaskingConfig, TrialConfig
from trainables.masking import get_strategy
from trainables.models.build import build_autoencoder, build_classifier, build_encoder
from trainables.targets import get_target


def nano(**over):
    base = {"data": {"num_frames": 8, "input_size": 32, "source": "lists", "num_classes": 5},
            "model": {"preset": "nano", "patch_size": 8}}
    return TrialConfig.model_validate(base | over)


def test_encoder_receives_only_visible_tokens():
    cfg = nano()
    enc = build_encoder(cfg)
    seen = []
    enc.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    mask = torch.from_numpy(np.stack([get_strategy("tube").sample(MaskingConfig(strategy="tube", ratio=0.75), cfg.token_grid, np.random.default_rng(s))
                                      for s in range(3)]))
    out = enc(torch.randn(3, 3, 8, 32, 32), mask)
    assert cfg.token_grid == (4, 4, 4)
    assert seen[0] == (3, 16, 64)          # 64 tokens, 75% masked → 16 visible
    assert out.shape == (3, 16, 64)


def test_autoencoder_predicts_masked_tokens_only():
    cfg = nano()
    model = build_autoencoder(cfg)
    mask = torch.from_numpy(np.stack([get_strategy("random").sample(MaskingConfig(strategy="random", ratio=0.9), cfg.token_grid, np.random.default_rng(s))
                                      for s in range(2)]))
    pred = model(torch.randn(2, 3, 8, 32, 32), mask)
    assert set(pred) == {"normalized_pixel"}
    assert pred["normalized_pixel"].shape == (2, int(0.9 * 64), 2 * 8 * 8 * 3)


def test_classifier_logits_and_layer_ids():
    cfg = nano()
    model = build_classifier(cfg)
    assert model(torch.randn(2, 3, 8, 32, 32)).shape == (2, 5)
    assert model.layer_id("encoder.patch_embed.weight") == 0
    assert model.layer_id("encoder.blocks.3.mlp.fc1.weight") == 4
    assert model.layer_id("head.weight") == 5


def test_normalized_pixel_has_zero_mean_unit_std_per_patch_and_channel():
    video = torch.rand(2, 3, 4, 16, 16) * 5 + 3
    t = get_target("normalized_pixel")(video, 2, 8).reshape(2, 2 * 2 * 2, 2 * 8 * 8, 3)
    assert torch.allclose(t.mean(dim=2), torch.zeros(1), atol=1e-4)
    assert torch.allclose(t.std(dim=2), torch.ones(1), atol=1e-3)


def test_pixel_target_keeps_token_order():
    video = torch.zeros(1, 3, 2, 16, 16)
    video[:, :, :, 8:, :8] = 1.0     # bottom-left patch (h=1, w=0) → token 2 in (t, h, w) order
    px = get_target("pixel")(video, 2, 8)
    assert px.shape == (1, 4, 2 * 8 * 8 * 3)
    assert px[0].sum(dim=1).argmax().item() == 2


@pytest.mark.parametrize("preset,dim", [("small", 384), ("base", 768)])
def test_paper_presets_build(preset, dim):
    cfg = TrialConfig.model_validate({"model": {"preset": preset}, "data": {"source": "lists", "num_classes": 400}})
    assert cfg.token_grid == (8, 14, 14)
    enc = build_encoder(cfg)
    assert enc.dim == dim and enc.num_tokens == 1568


def keyframe_classifier(keep_rate=0.7, layers=None, weight=1.0, frames=16):
    cfg = TrialConfig.model_validate({
        "data": {"num_frames": frames, "input_size": 32, "source": "lists", "num_classes": 5},
        "model": {"preset": "tiny", "patch_size": 8},
        "finetune": {"masking": {"strategy": "keyframe", "keep_rate": keep_rate, "drop_layers": layers,
                                 "enhanced_weight": weight}}})
    return cfg, build_classifier(cfg)


@pytest.mark.parametrize("keep_rate,weight", [(0.7, 1.0), (0.6, 4.0), (0.3, 1.0)])
def test_keyframe_dropout_keeps_the_keyframe_and_the_keep_rate(keep_rate, weight):
    import math
    cfg, model = keyframe_classifier(keep_rate, weight=weight)
    t, h, w = cfg.token_grid                       # (8, 4, 4): keyframe = step 4
    assert model.token_dropout.layers == (4, 7, 10)   # EVAD's ViT-B blocks for a 12-block encoder
    keyframe = set(range((t // 2) * h * w, (t // 2 + 1) * h * w))
    for seed in range(3):
        torch.manual_seed(seed)
        _, kept = model.encoder.forward_with_positions(torch.randn(2, 3, 16, 32, 32), None, model.token_dropout)
        n = t * h * w
        for block, positions in enumerate(kept, start=1):
            if block in model.token_dropout.layers:
                n = max(len(keyframe), math.ceil(keep_rate * n))
            assert positions.shape == (2, n), block
            for row in positions.tolist():
                assert keyframe <= set(row) and len(set(row)) == n
    assert model(torch.randn(2, 3, 16, 32, 32)).shape == (2, 5)


def test_keyframe_dropout_lowers_counted_flops():
    from trainables.models.flops import encoder_gflops
    cfg, _ = keyframe_classifier(0.6)
    assert encoder_gflops(cfg, cfg.finetune.masking) < 0.75 * encoder_gflops(cfg)


def test_masked_finetuning_classifier_sees_visible_tokens_only():
    from trainables.models.flops import encoder_gflops
    cfg = nano(finetune={"masking": {"strategy": "cell_running", "ratio": 0.5}})
    model = build_classifier(cfg)
    seen = []
    model.encoder.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    m = cfg.finetune.masking
    mask = torch.from_numpy(np.stack([get_strategy("cell_running").sample(m, cfg.token_grid, np.random.default_rng(0),
                                                                          train=False)] * 2))
    assert model(torch.randn(2, 3, 8, 32, 32), mask).shape == (2, 5)
    assert seen[0] == (2, 32, 64)
    assert encoder_gflops(cfg, m) < 0.6 * encoder_gflops(cfg)
