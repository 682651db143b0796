"""The masked pretraining stage, inside a trial's Ray Train worker group."""
from __future__ import annotations

import time

from trainables.data.clips import ClipDataset
from trainables.loops.epoch import Schedule, pretrain_adamw, run_epoch, steps_or_fail
from trainables.loops.probes import probe_metrics
from trainables.loops.worker import Worker, all_sum, make_loader, prepare, report, unwrap
from trainables.mask_picture import log_mask_picture, log_reconstruction
from trainables.models.build import build_autoencoder
from trainables.models.flops import autoencoder_gflops, encoder_gflops
from trainables.targets.loss import ReconstructionLoss
from trainables.tracking import PRETRAIN_LOSS_FLOOR, Stage


def pretrain(cfg, splits: dict, w: Worker, state: dict | None, tokenizer_dir: str | None = None) -> tuple[dict, dict]:
    """Runs (or resumes) pretraining; → the autoencoder's state dict (encoder.*, reconstruction.*)
    and the stage's record (rank 0's model metrics and every epoch's reported metrics)."""
    started = time.perf_counter()
    w.timeline.mark("pretrain_start")
    p, d = cfg.pretrain, cfg.data
    items = splits["train"]
    dataset = ClipDataset(items, d, train=True, seed=cfg.seed, token_grid=cfg.token_grid, masking=p.masking)
    loader = make_loader(dataset, p.batch_size, True, w, cfg.seed, d.loader_workers)
    model = build_autoencoder(cfg)
    start_epoch, clips_done = 0, 0
    record: dict = {"model": {}, "epochs": []}
    flops = autoencoder_gflops(cfg, dataset.samples(0)[0].get("mask")) if w.is_main else {}
    if state:
        model.load_state_dict(state["model"])
        start_epoch, clips_done, record = state["epoch"] + 1, state.get("clips", 0), state["record"]
    elif w.is_main:
        log_mask_picture(dataset, cfg, w.log, Stage.PRETRAIN)
        record["model"] = {"model/encoder_gflops_pretrain": encoder_gflops(cfg, p.masking),
                           "model/encoder_gflops_full": encoder_gflops(cfg), **flops}
        w.log.metrics(record["model"], step=0)
    model = prepare(model, cfg.model.compile, w)
    optimizer = pretrain_adamw(model, p.weight_decay, w.device)
    if state:
        optimizer.load_state_dict(state["optimizer"])
    schedule = Schedule(optimizer, p, steps_or_fail(loader, len(items), p.batch_size, w, Stage.PRETRAIN),
                        p.batch_size * w.world)
    loss_fn = ReconstructionLoss(model, p.loss_weights, cfg.model.tubelet_size, cfg.model.patch_size, w,
                                 tokenizer_dir)

    if w.is_main and not state:  # datasets, model, FLOPs count, mask picture, DDP wrap
        w.log.metrics({"timing/pretrain_setup_s": time.perf_counter() - started}, step=0)
    if not state and p.knn_every:
        # the same probes on the encoder at its random initialisation: what pretraining adds
        at_init = probe_metrics(model, cfg, splits, w)
        record["model"].update(at_init)
        w.log.metrics(at_init, step=0)
    for epoch in range(start_epoch, p.epochs):
        metrics = run_epoch(model, loader, schedule, epoch, loss_fn, w, len(items),
                            d.max_unreadable_fraction, Stage.PRETRAIN)
        floor_total, floor_clips = all_sum(loss_fn.take_floor(), w)
        metrics[PRETRAIN_LOSS_FLOOR] = floor_total / max(floor_clips, 1)
        metrics["pretrain/loss_vs_floor"] = metrics["pretrain/loss"] / max(metrics[PRETRAIN_LOSS_FLOOR], 1e-12)
        if p.knn_every and ((epoch + 1) % p.knn_every == 0 or epoch + 1 == p.epochs):
            metrics.update(probe_metrics(model, cfg, splits, w))
        clips_done += metrics["pretrain/clips"]
        if flops:  # counted per clip on a real step × clips trained so far
            metrics["pretrain/train_gflops_total"] = flops["model/pretrain_step_gflops_per_clip"] * clips_done
        record["epochs"].append({"stage": Stage.PRETRAIN.value, "epoch": epoch + 1, **metrics})
        report(record["epochs"][-1],
               {"stage": Stage.PRETRAIN.value, "epoch": epoch, "clips": clips_done, "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(), "record": record}, w)
    if w.is_main:
        log_reconstruction(unwrap(model), cfg, splits["val"], w.log)
    w.timeline.mark("pretrain_end")
    return unwrap(model).state_dict(), record
