"""Masked pretraining loop, run by every Ray Train worker of a trial's pretraining stage."""
from __future__ import annotations

import time

import ray.train
import ray.train.torch
import torch

from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD, ClipDataset
from trainables.data.lists import read_list
from trainables.loops.worker import (all_gather_lists, all_sum, check_unreadable, load_state, lr_at,
                                     make_loader, report, start_worker, unwrap)
from trainables.mask_picture import log_mask_picture
from trainables.models.build import build_autoencoder
from trainables.models.flops import encoder_gflops
from trainables.targets import get_target


def pretrain_loop(loop_config: dict) -> None:
    from orchestrator.spec import TrialConfig  # plain pydantic; re-validated on the worker
    cfg = TrialConfig.model_validate(loop_config["trial"])
    p, d = cfg.pretrain, cfg.data
    w = start_worker(loop_config, loop_config["cpus_per_worker"], cfg.seed)

    items = read_list(loop_config["train_list"], d.classes)
    dataset = ClipDataset(items, d, train=True, seed=cfg.seed, token_grid=cfg.token_grid, masking=p.masking)
    loader = make_loader(dataset, p.batch_size, True, w, cfg.seed, d.loader_workers)
    target = get_target(p.target)
    model = build_autoencoder(cfg, target.dim(cfg.model.tubelet_size, cfg.model.patch_size))

    state = load_state(ray.train.get_checkpoint())
    if state:
        model.load_state_dict(state["model"])
    model = ray.train.torch.prepare_model(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or name.endswith("mask_token") else decay).append(param)
    global_batch = p.batch_size * w.world
    peak_lr = p.base_lr * global_batch / 256
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": p.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=peak_lr, betas=(0.9, 0.95))
    start_epoch = 0
    if state:
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"] + 1
    elif w.is_main:
        log_mask_picture(dataset, cfg, w.log)
        w.log.metrics({"model/encoder_gflops_pretrain": encoder_gflops(cfg, masked=True),
                       "model/encoder_gflops_full": encoder_gflops(cfg, masked=False)}, step=0)

    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise RuntimeError(f"pretrain: {len(items)} training clips over {w.world} workers give no "
                           f"full batch of {p.batch_size}; lower pretrain.batch_size")
    total_steps = p.epochs * steps_per_epoch
    warmup_steps = int(p.warmup_epochs * steps_per_epoch)
    mean, std = IMAGENET_MEAN.to(w.device), IMAGENET_STD.to(w.device)
    unreadable: set[str] = set()

    for epoch in range(start_epoch, p.epochs):
        loader.sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        loss_sum = clips = 0.0
        for i, batch in enumerate(loader):
            unreadable.update(path for path, _ in batch["unreadable"])
            lr = lr_at(epoch * steps_per_epoch + i, total_steps, warmup_steps, peak_lr, p.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # Every rank must step together under DDP: a batch that lost all its clips
            # contributes a zero loss instead of skipping the collective.
            if "clip" in batch:
                video = batch["clip"].to(w.device, non_blocking=True)
                mask = batch["mask"].to(w.device, non_blocking=True)
                with torch.no_grad():
                    raw = video * std + mean
                    labels = target(raw, cfg.model.tubelet_size, cfg.model.patch_size)
                    labels = labels[mask].reshape(video.shape[0], -1, labels.shape[-1])
                loss = torch.nn.functional.mse_loss(model(video, mask), labels)
                n = video.shape[0]
            else:
                loss = sum(param.sum() * 0.0 for param in model.parameters())
                n = 0
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * n
            clips += n
        epoch_time = time.perf_counter() - started
        loss_total, clip_total = all_sum([loss_sum, clips], w)
        bad = sorted(set(all_gather_lists(sorted(unreadable), w)))
        check_unreadable(bad, len(items), d.max_unreadable_fraction, "train")
        metrics = {"stage": "pretrain", "epoch": epoch + 1,
                   "pretrain/loss": loss_total / max(clip_total, 1),
                   "pretrain/lr": lr, "pretrain/epoch_time_s": epoch_time,
                   "pretrain/clips_per_s": clip_total / epoch_time,
                   "data/skipped_videos": len(bad)}
        state = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        report(metrics, state, w)
        if w.is_main:
            w.log.metrics({k: v for k, v in metrics.items() if k != "stage"}, step=epoch + 1)
            if bad:
                w.log.text("\n".join(bad) + "\n", "data/unreadable_train.txt")
