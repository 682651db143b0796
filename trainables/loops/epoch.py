"""One training epoch shared by both stages: lr schedule per iteration, DDP-safe steps,
unreadable clips collected, sums over all workers."""
from __future__ import annotations

import time
from typing import Callable

import torch

from trainables.loops.worker import (NonFiniteLoss, TrialDataError, Worker, all_gather_lists, all_sum,
                                     check_unreadable, lr_at)


class Schedule:
    """Per-iteration learning rate of one stage, with each group's `lr_scale` applied."""

    def __init__(self, optimizer, opt_cfg, steps_per_epoch: int, global_batch: int):
        self.optimizer = optimizer
        self.peak = opt_cfg.base_lr * global_batch / 256
        self.floor = opt_cfg.min_lr
        self.steps_per_epoch = steps_per_epoch
        self.total = opt_cfg.epochs * steps_per_epoch
        self.warmup = int(opt_cfg.warmup_epochs * steps_per_epoch)

    def set(self, epoch: int, i: int) -> float:
        lr = lr_at(epoch * self.steps_per_epoch + i, self.total, self.warmup, self.peak, self.floor)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr


def run_epoch(model, loader, schedule: Schedule, epoch: int, loss_fn: Callable, w: Worker,
              total_clips: int, max_unreadable: float, stage: str) -> dict:
    """Trains one epoch; → the stage's epoch metrics (averaged over every worker's clips)."""
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
    model.train()
    started = time.perf_counter()
    motion_fallback = pyav_fallback = 0.0
    losses, sizes = [], []        # kept on the device: read once at the epoch's end, not every step
    unreadable: set[str] = set()
    lr = 0.0
    for i, batch in enumerate(loader):
        unreadable.update(path for path, _ in batch["unreadable"])
        motion_fallback += batch.get("motion_fallback", 0)
        pyav_fallback += batch.get("pyav_fallback", 0)
        lr = schedule.set(epoch, i)
        # Every rank must step together under DDP: a batch that lost all its clips
        # contributes a zero loss instead of skipping the collective.
        if "clip" in batch:
            loss, n = loss_fn(batch), batch["clip"].shape[0]
        else:
            loss, n = sum(p.sum() * 0.0 for p in model.parameters()), 0
        schedule.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        schedule.optimizer.step()
        losses.append(loss.detach().float())
        sizes.append(n)
        if i == 0:
            w.timeline.mark(f"{stage}_first_step")
    values = torch.stack(losses).cpu().double() if losses else torch.zeros(0, dtype=torch.float64)
    non_finite = (~torch.isfinite(values)).nonzero()
    first_non_finite = int(non_finite[0]) + 1 if len(non_finite) else 0   # 1-based step, 0: none
    loss_sum, clips = float((values * torch.tensor(sizes, dtype=torch.float64)).sum()), float(sum(sizes))
    elapsed = time.perf_counter() - started
    loss_total, clip_total, fallback_total, pyav_total = all_sum([loss_sum, clips, motion_fallback, pyav_fallback], w)
    # Checked where every rank agrees (after the epoch's collective), so no rank leaves a DDP step alone.
    bad_steps = [s for s in all_gather_lists([first_non_finite], w) if s]
    if bad_steps:
        raise NonFiniteLoss(f"{stage} epoch {epoch + 1}: the loss became non-finite at step {min(bad_steps)} "
                            f"of {len(loader)} (lr {lr:.3g}); the run diverged: lower {stage}.base_lr or "
                            f"raise {stage}.warmup_epochs")
    bad = sorted(set(all_gather_lists(sorted(unreadable), w)))
    check_unreadable(bad, total_clips, max_unreadable, "train")
    if bad and w.is_main:
        w.log.text("\n".join(bad) + "\n", "data/unreadable_train.txt")
    metrics = {f"{stage}/loss": loss_total / max(clip_total, 1), f"{stage}/lr": lr, f"{stage}/clips": clip_total,
               f"{stage}/epoch_time_s": elapsed, f"{stage}/clips_per_s": clip_total / elapsed,
               f"data/{stage}_skipped_videos": len(bad),
               f"data/{stage}_pyav_fallback_clips": pyav_total}   # clips decord could not read, PyAV did
    strategy = getattr(loader.dataset, "strategy", None)
    if strategy is not None and strategy.needs_motion:
        # clips with a time step that had no codec motion vectors (frame difference used)
        metrics[f"data/{stage}_motion_fallback_clips"] = fallback_total
    return metrics


def decay_groups(model, weight_decay: float, no_decay_names: tuple[str, ...] = ()) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or name.endswith(no_decay_names) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def steps_or_fail(loader, n_items: int, batch: int, w: Worker, stage: str) -> int:
    if len(loader) == 0:
        raise TrialDataError(f"{stage}: {n_items} training clips over {w.world} workers give no full "
                           f"batch of {batch}; lower {stage}.batch_size")
    return len(loader)


def adamw(groups, betas, device: torch.device) -> torch.optim.AdamW:
    """AdamW; the fused kernel on GPUs (one launch for all parameters)."""
    return torch.optim.AdamW(groups, lr=0.0, betas=betas, fused=device.type == "cuda")


def pretrain_adamw(model, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """Masked pretraining's AdamW (MAE's betas 0.9 / 0.95; no decay on biases, norms and the mask token)."""
    return adamw(decay_groups(model, weight_decay, ("mask_token",)), (0.9, 0.95), device)
