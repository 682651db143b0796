"""Reconstruction targets on hand-made clips; several decoders, the regressor and MAR's
bridging classifier train; FLOPs scale with the visible tokens."""
import numpy as np
import pytest
import torch

from trainables.config import TrialConfig
from trainables.masking import get_strategy
from trainables.models.build import build_autoencoder, build_classifier
from trainables.targets import get_target, target_names


def test_targets_registered():
    assert {"pixel", "normalized_pixel", "rgb_diff", "hog"} <= set(target_names())


def test_rgb_diff_of_a_still_clip_is_zero_and_of_motion_is_not():
    still = torch.rand(1, 3, 1, 16, 16).expand(2, 3, 4, 16, 16).contiguous()
    target = get_target("rgb_diff")
    out = target(still, 2, 8)
    assert out.shape == (2, 2 * 2 * 2, target.dim(2, 8)) and out.abs().max() == 0
    moving = torch.zeros(1, 3, 4, 16, 16)
    for t in range(4):
        moving[:, :, t, :, 2 * t:2 * t + 4] = 1.0
    assert target(moving, 2, 8).abs().sum() > 0


def test_hog_of_a_vertical_edge_peaks_in_the_horizontal_gradient_bin():
    video = torch.zeros(1, 3, 2, 16, 16)
    video[..., 6:] = 1.0                       # vertical edge at x = 6, inside the left patches
    target = get_target("hog")
    out = target(video, 2, 8)
    assert out.shape == (1, 4, target.dim(2, 8))
    hist = out.reshape(1, 4, 2, 3, 2, 2, 9)   # tokens, tubelet frame, channel, cell y, cell x, bins
    left = hist[0, 0].sum(dim=(0, 1, 2))      # top-left token, over frames/channels/cell rows
    assert left[:, 0].sum() > 0 and left[:, 1:].sum() == 0   # bin 0: gradient along x
    norms = hist[0, 0, 0, 0].norm(dim=-1)
    assert torch.allclose(norms[norms > 0], torch.ones_like(norms[norms > 0]), atol=1e-4)


def config(**pretrain):
    return TrialConfig.model_validate({
        "data": {"num_frames": 8, "input_size": 32, "source": "lists", "num_classes": 4},
        "model": {"preset": "nano", "patch_size": 8},
        "pretrain": {"masking": {"strategy": "tube", "ratio": 0.75}, **pretrain},
        "finetune": {"head": "bridging", "bridge_dim": 64, "bridge_heads": 4,
                     "masking": {"strategy": "cell_running", "ratio": 0.5}}})


def masks(cfg, n):
    m = cfg.pretrain.masking
    return torch.from_numpy(np.stack([get_strategy(m.strategy).sample(m, cfg.token_grid, np.random.default_rng(s))
                                      for s in range(n)]))


def train_steps(model, loss_fn, steps: int, lr: float) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_two_decoders_behind_a_regressor_train():
    torch.manual_seed(0)
    cfg = config(targets={"rgb_diff": 1.0, "normalized_pixel": 0.5}, regressor={"depth": 2})
    model = build_autoencoder(cfg)
    assert set(model.reconstruction.decoders) == {"rgb_diff", "normalized_pixel"}
    assert len(model.reconstruction.regressor.blocks) == 2
    video, mask = torch.rand(4, 3, 8, 32, 32), masks(cfg, 4)

    def loss_fn():
        preds = model(video, mask)
        return sum(w * torch.nn.functional.mse_loss(
            preds[name], get_target(name)(video, 2, 8)[mask].reshape(4, -1, preds[name].shape[-1]))
            for name, w in cfg.pretrain.loss_weights.items())
    losses = train_steps(model, loss_fn, steps=15, lr=2e-3)
    assert losses[-1] < 0.8 * losses[0]
    # every parameter takes part in the loss (DDP fails on unused ones)
    assert all(p.grad is not None for p in model.parameters())


def test_bridging_classifier_on_visible_tokens_trains():
    torch.manual_seed(0)
    cfg = config()
    model = build_classifier(cfg)
    assert model.bridge[0].bias is None and model.bridge[0].out_features == 64
    m = cfg.finetune.masking
    mask = torch.from_numpy(np.stack([get_strategy(m.strategy).sample(m, cfg.token_grid, np.random.default_rng(s))
                                      for s in range(8)]))
    video, labels = torch.rand(8, 3, 8, 32, 32), torch.arange(8) % 4
    losses = train_steps(model, lambda: torch.nn.functional.cross_entropy(model(video, mask), labels),
                         steps=25, lr=5e-4)
    assert losses[-1] < 0.5 * losses[0]


def test_masked_finetuning_keeps_the_reconstruction_branch():
    """MAR: with finetune.mae_loss_weight the pretraining decoders come along, loaded from the
    pretrained autoencoder, and reconstruct the tokens the fine-tuning mask hides."""
    from trainables.targets.loss import ReconstructionLoss
    from trainables.loops.worker import Worker
    from trainables.run_logger import RunLogger
    torch.manual_seed(0)
    cfg = config(targets={"normalized_pixel": 1.0}, regressor={"depth": 1})
    cfg = TrialConfig.model_validate(cfg.model_dump() | {"finetune": cfg.finetune.model_dump() | {"mae_loss_weight": 0.1}})
    pretrained = build_autoencoder(cfg).state_dict()
    model = build_classifier(cfg)
    for name in ("encoder", "reconstruction"):
        getattr(model, name).load_state_dict({k[len(name) + 1:]: v for k, v in pretrained.items()
                                              if k.startswith(name + ".")})
    assert torch.equal(model.reconstruction.regressor.query, pretrained["reconstruction.regressor.query"])
    m = cfg.finetune.masking
    mask = torch.from_numpy(np.stack([get_strategy(m.strategy).sample(m, cfg.token_grid, np.random.default_rng(s))
                                      for s in range(8)]))
    video, labels = torch.rand(8, 3, 8, 32, 32), torch.arange(8) % 4
    logits, predictions = model(video, mask, reconstruct=True)
    assert logits.shape == (8, 4) and predictions["normalized_pixel"].shape == (8, 32, 2 * 8 * 8 * 3)
    recon = ReconstructionLoss(None, cfg.pretrain.loss_weights, 2, 8, Worker(0, 1, torch.device("cpu"),
                               RunLogger(None, None)))

    def loss_fn():
        logits, predictions = model(video, mask, reconstruct=True)
        return (torch.nn.functional.cross_entropy(logits, labels)
                + cfg.finetune.mae_loss_weight * recon.of(predictions, video, mask))
    losses = train_steps(model, loss_fn, steps=25, lr=5e-4)
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in model.parameters())     # DDP needs every parameter used


@pytest.mark.parametrize("finetune,expected", [
    ({"mae_loss_weight": 0.1, "masking": None}, "needs masked fine-tuning"),
    ({"mae_loss_weight": 0.1, "masking": {"strategy": "keyframe", "keep_rate": 0.7}}, "needs masked fine-tuning"),
    ({"mae_loss_weight": -1.0}, "greater than or equal to 0"),
])
def test_reconstruction_branch_needs_masked_finetuning(finetune, expected):
    cfg = config().model_dump()
    with pytest.raises(ValueError, match=expected):
        TrialConfig.model_validate(cfg | {"finetune": cfg["finetune"] | finetune})


def test_encoder_flops_at_half_the_tokens_are_about_half():
    from trainables.config import MaskingConfig
    from trainables.models.flops import encoder_gflops
    cfg = TrialConfig.model_validate({"data": {"source": "lists", "num_classes": 4}, "model": {"preset": "small"}})
    half = encoder_gflops(cfg, MaskingConfig(strategy="random", ratio=0.5))
    assert half == pytest.approx(encoder_gflops(cfg) / 2, rel=0.10)


@pytest.mark.parametrize("pretrain,expected", [
    ({"targets": {"pixel": -1.0}}, "loss weights must be ≥ 0"),
    ({"targets": {"pixel": 0.0, "hog": 0.0}}, "loss weights are all zero"),
    ({"targets": {"sift": 1.0}}, "unknown target 'sift'"),
    ({"regressor": {"depth": 0}}, "greater than or equal to 1"),
])
def test_target_options_are_validated(pretrain, expected):
    with pytest.raises(ValueError, match=expected):
        config(**pretrain)
