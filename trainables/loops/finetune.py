"""The fine-tuning stage from the pretrained encoder: top-1/top-5 on val every epoch and
the test split once at the end."""
from __future__ import annotations

import csv
import io
import os
import tempfile
import time

import torch
import torch.nn.functional as F

from trainables.data.clips import ClipDataset, model_input
from trainables.loops.epoch import Schedule, adamw, run_epoch, steps_or_fail
from trainables.loops.worker import Worker, all_gather_lists, all_sum, check_unreadable, make_loader, prepare, report, unwrap
from trainables.mask_picture import log_mask_picture
from trainables.models.build import build_classifier
from trainables.models.flops import encoder_gflops
from trainables.targets.loss import ReconstructionLoss
from trainables.tracking import VAL_TOP1, VAL_TOP5, Stage


def layer_decay_groups(model, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW groups with VideoMAE's layer-wise lr decay and no decay on norms and biases."""
    depth = model.encoder.depth
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        layer = model.layer_id(name)
        no_decay = param.ndim <= 1
        group = groups.setdefault((layer, no_decay), {
            "params": [], "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": layer_decay ** (depth + 1 - layer)})
        group["params"].append(param)
    return list(groups.values())


def evaluate(model, loader, w: Worker, split: str, max_unreadable: float, keep_predictions: bool = False) -> dict:
    """Top-1/top-5 over every clip of the split exactly once; unreadable clips are named,
    never replaced, and fail the trial above `max_unreadable`. With `keep_predictions`, rank 0
    logs every clip's label, prediction and top-5 as `predictions/<split>.csv` (for the
    report's paired comparisons of arms on the same clips)."""
    model.eval()
    correct1 = correct5 = seen = loss_sum = 0.0
    unreadable: list[str] = []
    predictions: list[tuple] = []
    with torch.no_grad():
        for batch in loader:
            unreadable += [path for path, _ in batch["unreadable"]]
            if "clip" not in batch:
                continue
            mask = batch["mask"].to(w.device) if "mask" in batch else None
            with w.autocast():
                logits = model(model_input(batch["clip"], w.device), mask).float()
            labels = batch["label"].to(w.device)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == labels).sum().item()
            correct5 += (top == labels[:, None]).any(dim=1).sum().item()
            seen += labels.numel()
            if keep_predictions:
                predictions += [(int(i), int(y), t) for i, y, t in
                                zip(batch["index"].tolist(), labels.tolist(), top.tolist())]
    c1, c5, n, ls = all_sum([correct1, correct5, seen, loss_sum], w)
    bad = sorted(all_gather_lists(unreadable, w))
    check_unreadable(bad, len(loader.dataset), max_unreadable, split)
    if bad and w.is_main:
        w.log.text("\n".join(bad) + "\n", f"data/unreadable_{split}.txt")
    if keep_predictions:
        rows = sorted(all_gather_lists(predictions, w))
        if w.is_main:
            items, out = loader.dataset.items, io.StringIO()
            table = csv.writer(out, lineterminator="\n")
            table.writerow(["clip", "label", "prediction", "correct", "top5"])
            table.writerows([items[i][0], y, t[0], int(t[0] == y), " ".join(map(str, t))] for i, y, t in rows)
            w.log.text(out.getvalue(), f"predictions/{split}.csv")   # TEST_PREDICTIONS for the test split
    return {f"finetune/{split}_top1": 100 * c1 / max(n, 1), f"finetune/{split}_top5": 100 * c5 / max(n, 1),
            f"finetune/{split}_loss": ls / max(n, 1), f"data/unreadable_{split}": len(bad)}


def finetune(cfg, splits: dict, w: Worker, state: dict | None, pretrained: dict | None,
             tokenizer_dir: str | None = None) -> None:
    """Runs (or resumes) fine-tuning from the pretrained autoencoder's state dict when given
    (its encoder, and its decoders when MAR's reconstruction branch stays on)."""
    started = time.perf_counter()
    w.timeline.mark("finetune_start")
    f, d = cfg.finetune, cfg.data
    train_set = ClipDataset(splits["train"], d, train=True, seed=cfg.seed, token_grid=cfg.token_grid,
                            masking=f.masking)
    train_loader = make_loader(train_set, f.batch_size, True, w, cfg.seed, d.loader_workers)
    eval_loaders = {s: make_loader(ClipDataset(splits[s], d, False, cfg.seed, cfg.token_grid, f.masking),
                                   f.batch_size, False, w, cfg.seed, d.loader_workers) for s in ("val", "test")}
    model = build_classifier(cfg)
    start_epoch = 0
    if state:
        model.load_state_dict(state["model"])
        start_epoch = state["epoch"] + 1
    else:
        if pretrained is not None:
            for name in ("encoder", "reconstruction"):
                module = getattr(model, name)
                if module is not None:
                    module.load_state_dict({k[len(name) + 1:]: v for k, v in pretrained.items()
                                            if k.startswith(name + ".")})
        if w.is_main:   # the full encoder's FLOPs are pretraining's to log, where there is one
            w.log.metrics({"model/encoder_gflops_finetune": encoder_gflops(cfg, f.masking),
                           **({} if cfg.pretrain.enabled else {"model/encoder_gflops_full": encoder_gflops(cfg)})},
                          step=0)
            if f.masking is not None:
                log_mask_picture(eval_loaders["val"].dataset, cfg, w.log, Stage.FINETUNE, model)
    model = prepare(model, cfg.model.compile, w)
    optimizer = adamw(layer_decay_groups(unwrap(model), f.weight_decay, f.layer_decay), (0.9, 0.999), w.device)
    if state:
        optimizer.load_state_dict(state["optimizer"])
    schedule = Schedule(optimizer, f, steps_or_fail(train_loader, len(splits["train"]), f.batch_size, w, Stage.FINETUNE),
                        f.batch_size * w.world)

    reconstruction = (ReconstructionLoss(None, cfg.pretrain.loss_weights, cfg.model.tubelet_size,
                                         cfg.model.patch_size, w, tokenizer_dir) if f.mae_loss_weight > 0 else None)
    reconstruction_sum = [0.0, 0]

    def loss_fn(batch):
        video = model_input(batch["clip"], w.device)
        mask = batch["mask"].to(w.device, non_blocking=True) if "mask" in batch else None
        with w.autocast():
            out = model(video, mask, reconstruct=reconstruction is not None)
        logits, predictions = out if reconstruction is not None else (out, None)
        loss = F.cross_entropy(logits.float(), batch["label"].to(w.device), label_smoothing=f.label_smoothing)
        if reconstruction is not None:  # MAR: the decoders keep reconstructing the masked tokens
            extra = reconstruction.of(predictions, video, mask)
            reconstruction_sum[0] += extra.item() * len(video)
            reconstruction_sum[1] += len(video)
            loss = loss + f.mae_loss_weight * extra
        return loss

    if w.is_main and not state:  # datasets, model, FLOPs count, mask picture, DDP wrap
        w.log.metrics({"timing/finetune_setup_s": time.perf_counter() - started}, step=0)
    for epoch in range(start_epoch, f.epochs):
        metrics = run_epoch(model, train_loader, schedule, epoch, loss_fn, w, len(splits["train"]),
                            d.max_unreadable_fraction, Stage.FINETUNE)
        if reconstruction is not None:
            total, count = all_sum(reconstruction_sum, w)
            metrics["finetune/reconstruction_loss"] = total / max(count, 1)
            reconstruction_sum[:] = [0.0, 0]
        metrics |= evaluate(model, eval_loaders["val"], w, "val", d.max_unreadable_fraction)
        metrics[VAL_TOP1] = metrics["finetune/val_top1"]
        metrics[VAL_TOP5] = metrics["finetune/val_top5"]
        last = epoch == f.epochs - 1
        if last:
            w.timeline.mark("finetune_end")
            metrics |= evaluate(model, eval_loaders["test"], w, "test", d.max_unreadable_fraction,
                                keep_predictions=True)
            w.timeline.mark("test_done")
        report({"stage": Stage.FINETUNE.value, "epoch": epoch + 1, **metrics},
               {"stage": Stage.FINETUNE.value, "epoch": epoch, "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict()}, w)
        if last and w.is_main:
            log_weights(unwrap(model), w)
            w.timeline.mark("weights_logged")


def log_weights(model, w: Worker) -> None:
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "finetuned.safetensors")
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
        w.log.artifact(path, "model")
