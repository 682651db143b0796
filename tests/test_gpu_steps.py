"""The trial's own training steps on a CUDA device: bf16 autocast, fused AdamW, DDP over NCCL,
torch.compile. Skipped without a GPU (CI has none); run on a GPU machine with
`python -m pytest tests/test_gpu_steps.py`."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainables.config import TrialConfig
from trainables.data.clips import model_input
from trainables.loops.epoch import adamw, decay_groups
from trainables.targets.loss import ReconstructionLoss
from trainables.loops.worker import Worker, all_sum
from trainables.masking import get_strategy
from trainables.models.build import build_autoencoder, build_classifier
from trainables.run_logger import RunLogger

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def config(targets: dict, mae_loss_weight: float = 0.0, **model) -> TrialConfig:
    return TrialConfig.model_validate({
        "data": {"num_frames": 8, "input_size": 64, "source": "lists", "num_classes": 4},
        "model": {"preset": "tiny", "patch_size": 16, **model},
        "pretrain": {"masking": {"strategy": "tube", "ratio": 0.9}, "targets": targets, "regressor": {"depth": 1}},
        "finetune": {"head": "bridging", "bridge_dim": 64, "bridge_heads": 4, "mae_loss_weight": mae_loss_weight,
                     "masking": {"strategy": "cell_running", "ratio": 0.5}}})


def batch(cfg: TrialConfig, masking, n: int = 8) -> dict:
    rng = np.random.default_rng(0)
    mask = np.stack([get_strategy(masking.strategy).sample(masking, cfg.token_grid, rng, train=True)
                     for _ in range(n)])
    d = cfg.data
    # smooth uint8 clips (upsampled 4×4 noise), so masked tokens are predictable from visible ones
    coarse = torch.rand(n, 3, d.num_frames, 4, 4)
    clip = F.interpolate(coarse, size=(d.num_frames, d.input_size, d.input_size), mode="trilinear")
    return {"clip": clip.mul(255).round().to(torch.uint8).pin_memory(),
            "mask": torch.from_numpy(mask).pin_memory(), "label": torch.arange(n) % 4}


def worker() -> Worker:
    return Worker(0, 1, torch.device("cuda"), RunLogger(None, None), "bf16")


def train(model, loss_fn, steps: int, lr: float) -> list[float]:
    optimizer = adamw(decay_groups(model, 0.05, ("mask_token",)), (0.9, 0.95), torch.device("cuda"))
    assert optimizer.defaults["fused"]
    for group in optimizer.param_groups:
        group["lr"] = lr
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("targets", [{"normalized_pixel": 1.0}, {"pixel": 1.0, "hog": 0.5},
                                     {"rgb_diff": 1.0, "normalized_pixel": 0.5}])
def test_pretraining_step_trains_in_bf16(targets):
    torch.manual_seed(0)
    cfg, w = config(targets), worker()
    model = build_autoencoder(cfg).cuda()
    loss_fn = ReconstructionLoss(model, cfg.pretrain.loss_weights, cfg.model.tubelet_size, cfg.model.patch_size, w)
    b = batch(cfg, cfg.pretrain.masking)
    with w.autocast():
        predictions = model(model_input(b["clip"], w.device), b["mask"].cuda())
    assert all(p.dtype == torch.bfloat16 for p in predictions.values())
    losses = train(model, lambda: loss_fn(b), steps=50, lr=1e-3)
    assert all(np.isfinite(losses)) and losses[-1] < 0.85 * losses[0], losses


def test_masked_finetuning_with_reconstruction_trains_under_ddp_over_nccl(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.manual_seed(0)
    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        cfg, w = config({"normalized_pixel": 1.0}, mae_loss_weight=0.1), worker()
        model = DistributedDataParallel(build_classifier(cfg).cuda())
        recon = ReconstructionLoss(None, cfg.pretrain.loss_weights, cfg.model.tubelet_size, cfg.model.patch_size, w)
        b = batch(cfg, cfg.finetune.masking)

        def loss_fn():
            video, mask = model_input(b["clip"], w.device), b["mask"].cuda(non_blocking=True)
            with w.autocast():
                logits, predictions = model(video, mask, reconstruct=True)
            return (F.cross_entropy(logits.float(), b["label"].cuda())
                    + cfg.finetune.mae_loss_weight * recon.of(predictions, video, mask))
        losses = train(model, loss_fn, steps=30, lr=5e-4)
        assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses
        w.world = 2   # all_sum's collective path (one rank here: the sum is the rank's own)
        assert all_sum([1.5, 2.0], w) == [1.5, 2.0]
    finally:
        dist.destroy_process_group()


def test_compiled_pretraining_matches_eager():
    torch.manual_seed(0)
    cfg, w = config({"normalized_pixel": 1.0}), worker()
    eager, twin = build_autoencoder(cfg).cuda(), build_autoencoder(cfg).cuda()
    twin.load_state_dict(eager.state_dict())
    compiled = torch.compile(twin)
    b = batch(cfg, cfg.pretrain.masking)
    loss_eager = ReconstructionLoss(eager, cfg.pretrain.loss_weights, 2, 16, w)(b)
    loss_compiled = ReconstructionLoss(compiled, cfg.pretrain.loss_weights, 2, 16, w)(b)
    assert abs(loss_eager.item() - loss_compiled.item()) < 2e-2 * loss_eager.item()
    losses = train(compiled, lambda: ReconstructionLoss(compiled, cfg.pretrain.loss_weights, 2, 16, w)(b),
                   steps=50, lr=1e-3)
    assert losses[-1] < 0.85 * losses[0], losses
