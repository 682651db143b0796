"""The masked pretraining stage, inside a trial's Ray Train worker group."""
from __future__ import annotations

import ray.train.torch
import torch

from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD, ClipDataset
from trainables.loops.epoch import Schedule, adamw, decay_groups, run_epoch, steps_or_fail
from trainables.loops.knn import knn_metric
from trainables.loops.worker import Worker, make_loader, report, unwrap
from trainables.mask_picture import log_mask_picture
from trainables.models.build import build_autoencoder
from trainables.models.flops import autoencoder_gflops, encoder_gflops
from trainables.targets import get_target


def pretrain(cfg, splits: dict, w: Worker, state: dict | None) -> dict:
    """Runs (or resumes) pretraining; → the encoder's state dict."""
    p, d = cfg.pretrain, cfg.data
    items = splits["train"]
    dataset = ClipDataset(items, d, train=True, seed=cfg.seed, token_grid=cfg.token_grid, masking=p.masking)
    loader = make_loader(dataset, p.batch_size, True, w, cfg.seed, d.loader_workers)
    weights = p.loss_weights
    targets = {name: get_target(name) for name in weights}
    tubelet, patch = cfg.model.tubelet_size, cfg.model.patch_size
    model = build_autoencoder(cfg)
    start_epoch, clips_done = 0, 0
    flops = autoencoder_gflops(cfg, dataset[0].get("mask")) if w.is_main else {}
    if state:
        model.load_state_dict(state["model"])
        start_epoch, clips_done = state["epoch"] + 1, state.get("clips", 0)
    elif w.is_main:
        log_mask_picture(dataset, cfg, w.log, "pretrain")
        w.log.metrics({"model/encoder_gflops_pretrain": encoder_gflops(cfg, p.masking),
                       "model/encoder_gflops_full": encoder_gflops(cfg), **flops}, step=0)
    model = ray.train.torch.prepare_model(model)
    optimizer = adamw(decay_groups(model, p.weight_decay, ("mask_token",)), (0.9, 0.95))
    if state:
        optimizer.load_state_dict(state["optimizer"])
    schedule = Schedule(optimizer, p, steps_or_fail(loader, len(items), p.batch_size, w, "pretrain"),
                        p.batch_size * w.world)
    mean, std = IMAGENET_MEAN.to(w.device), IMAGENET_STD.to(w.device)

    def loss_fn(batch):
        video = batch["clip"].to(w.device, non_blocking=True)
        mask = batch["mask"].to(w.device, non_blocking=True)
        predictions = model(video, mask)
        loss = 0.0
        with torch.no_grad():
            pixels = video * std + mean                            # targets from [0, 1] pixels
        for name, target in targets.items():
            with torch.no_grad():
                labels = target(pixels, tubelet, patch)
                labels = labels[mask].reshape(video.shape[0], -1, labels.shape[-1])
            loss = loss + weights[name] * torch.nn.functional.mse_loss(predictions[name], labels)
        return loss

    for epoch in range(start_epoch, p.epochs):
        metrics = run_epoch(model, loader, schedule, epoch, loss_fn, w, len(items),
                            d.max_unreadable_fraction, "pretrain")
        if p.knn_every and ((epoch + 1) % p.knn_every == 0 or epoch + 1 == p.epochs):
            metrics["pretrain/knn_top1"] = knn_metric(model, cfg, splits, w)
        clips_done += metrics["pretrain/clips"]
        if flops:  # counted per clip on a real step × clips trained so far
            metrics["pretrain/train_gflops_total"] = flops["model/pretrain_step_gflops_per_clip"] * clips_done
        report({"stage": "pretrain", "epoch": epoch + 1, **metrics},
               {"stage": "pretrain", "epoch": epoch, "clips": clips_done, "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict()}, w)
    return unwrap(model).encoder.state_dict()
