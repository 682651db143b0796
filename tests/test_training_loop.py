"""The epoch loop both stages share, on real decoded clips: a diverged loss stops the trial
with an error naming the stage, the epoch and the step (as MAE's engine stops)."""
import pytest
import torch

from trainables.config import TrialConfig
from trainables.data.clips import ClipDataset
from trainables.data.lists import read_list
from trainables.loops.epoch import Schedule, adamw, decay_groups, run_epoch
from trainables.loops.worker import NonFiniteLoss, TrialFailure, Worker, make_loader
from trainables.models.build import build_autoencoder
from trainables.run_logger import RunLogger
from trainables.targets.loss import ReconstructionLoss
from trainables.tracking import Stage


def pretraining_epoch(synth_root, poison_step: int | None):
    """One pretraining epoch of the nano autoencoder; the loss of step `poison_step` (1-based)
    is made NaN, as a diverged run's would be."""
    cfg = TrialConfig.model_validate({
        "data": {"root": str(synth_root), "num_frames": 8, "sampling_rate": 2, "input_size": 32, "loader_workers": 0},
        "model": {"preset": "nano", "patch_size": 8},
        "pretrain": {"batch_size": 4, "masking": {"strategy": "tube", "ratio": 0.75}}})
    torch.manual_seed(0)
    w = Worker(0, 1, torch.device("cpu"), RunLogger(None, None))
    items = read_list(synth_root / "train.csv")[:16]
    dataset = ClipDataset(items, cfg.data, True, 0, cfg.token_grid, cfg.pretrain.masking)
    loader = make_loader(dataset, 4, True, w, 0, 0)
    model = build_autoencoder(cfg)
    schedule = Schedule(adamw(decay_groups(model, 0.05), (0.9, 0.95), w.device), cfg.pretrain, len(loader), 4)
    reconstruction = ReconstructionLoss(model, cfg.pretrain.loss_weights, 2, 8, w)
    steps = []

    def loss_fn(batch):
        steps.append(len(steps) + 1)
        loss = reconstruction(batch)
        return loss * float("nan") if steps[-1] == poison_step else loss
    metrics = run_epoch(model, loader, schedule, 0, loss_fn, w, len(items), 0.05, Stage.PRETRAIN)
    return metrics, steps


def test_a_finite_epoch_reports_its_loss(synth_root):
    metrics, steps = pretraining_epoch(synth_root, poison_step=None)
    assert steps == [1, 2, 3, 4]
    assert 0 < metrics["pretrain/loss"] < 10 and metrics["pretrain/clips"] == 16


def test_a_non_finite_loss_fails_the_trial_naming_epoch_and_step(synth_root):
    with pytest.raises(NonFiniteLoss) as failure:
        pretraining_epoch(synth_root, poison_step=2)
    message = str(failure.value)
    assert "pretrain epoch 1" in message and "step 2 of 4" in message and "pretrain.base_lr" in message
    assert isinstance(failure.value, TrialFailure)      # reported, not retried by Ray Train
