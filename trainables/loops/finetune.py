"""Fine-tuning loop from the pretrained encoder: top-1/top-5 on val every epoch, and the
test split once at the end."""
from __future__ import annotations

import os
import tempfile
import time

import ray.train
import ray.train.torch
import torch
import torch.nn.functional as F

from trainables.data.clips import ClipDataset
from trainables.data.lists import read_list
from trainables.loops.worker import (Worker, all_gather_lists, all_sum, check_unreadable, load_state,
                                     lr_at, make_loader, report, start_worker, unwrap)
from trainables.models.build import build_classifier


def _param_groups(model, weight_decay: float, layer_decay: float):
    """AdamW groups with VideoMAE's layer-wise lr decay and no decay on norms/biases."""
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


def evaluate(model, loader, w: Worker, split: str, total: int, max_unreadable: float) -> dict:
    model.eval()
    correct1 = correct5 = seen = loss_sum = 0.0
    unreadable: list[str] = []
    with torch.no_grad():
        for batch in loader:
            unreadable += [path for path, _ in batch["unreadable"]]
            if "clip" not in batch:
                continue
            logits = model(batch["clip"].to(w.device))
            labels = batch["label"].to(w.device)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == labels).sum().item()
            correct5 += (top == labels[:, None]).any(dim=1).sum().item()
            seen += labels.numel()
    c1, c5, n, ls = all_sum([correct1, correct5, seen, loss_sum], w)
    bad = sorted(all_gather_lists(unreadable, w))
    check_unreadable(bad, total, max_unreadable, split)
    if bad and w.is_main:
        w.log.text("\n".join(bad) + "\n", f"data/unreadable_{split}.txt")
    return {f"finetune/{split}_top1": 100 * c1 / max(n, 1), f"finetune/{split}_top5": 100 * c5 / max(n, 1),
            f"finetune/{split}_loss": ls / max(n, 1), f"data/unreadable_{split}": len(bad)}


def finetune_loop(loop_config: dict) -> None:
    from orchestrator.spec import TrialConfig
    cfg = TrialConfig.model_validate(loop_config["trial"])
    f, d = cfg.finetune, cfg.data
    w = start_worker(loop_config, loop_config["cpus_per_worker"], cfg.seed + 1)

    train_items = read_list(loop_config["train_list"], d.classes)
    val_items = read_list(loop_config["val_list"], d.classes)
    test_items = read_list(loop_config["test_list"], d.classes)
    train_set = ClipDataset(train_items, d, train=True, seed=cfg.seed)
    train_loader = make_loader(train_set, f.batch_size, True, w, cfg.seed, d.loader_workers)
    val_loader = make_loader(ClipDataset(val_items, d, False, cfg.seed), f.batch_size, False, w, cfg.seed, d.loader_workers)

    model = build_classifier(cfg)
    state = load_state(ray.train.get_checkpoint())
    if state:
        model.load_state_dict(state["model"])
    elif loop_config.get("init_checkpoint") is not None:
        pretrained = load_state(loop_config["init_checkpoint"])["model"]
        encoder = {k.removeprefix("encoder."): v for k, v in pretrained.items() if k.startswith("encoder.")}
        model.encoder.load_state_dict(encoder)
    model = ray.train.torch.prepare_model(model)
    groups = _param_groups(unwrap(model), f.weight_decay, f.layer_decay)
    global_batch = f.batch_size * w.world
    peak_lr = f.base_lr * global_batch / 256
    optimizer = torch.optim.AdamW(groups, lr=peak_lr, betas=(0.9, 0.999))
    start_epoch = 0
    if state:
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"] + 1

    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise RuntimeError(f"finetune: {len(train_items)} training clips over {w.world} workers give "
                           f"no full batch of {f.batch_size}; lower finetune.batch_size")
    total_steps = f.epochs * steps_per_epoch
    warmup_steps = int(f.warmup_epochs * steps_per_epoch)
    unreadable: set[str] = set()
    for epoch in range(start_epoch, f.epochs):
        train_loader.sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        loss_sum = clips = 0.0
        for i, batch in enumerate(train_loader):
            unreadable.update(path for path, _ in batch["unreadable"])
            lr = lr_at(epoch * steps_per_epoch + i, total_steps, warmup_steps, peak_lr, f.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            if "clip" in batch:
                logits = model(batch["clip"].to(w.device, non_blocking=True))
                loss = F.cross_entropy(logits, batch["label"].to(w.device), label_smoothing=f.label_smoothing)
                n = logits.shape[0]
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
        check_unreadable(bad, len(train_items), d.max_unreadable_fraction, "train")
        metrics = {"stage": "finetune", "epoch": epoch + 1,
                   "finetune/loss": loss_total / max(clip_total, 1), "finetune/lr": lr,
                   "finetune/epoch_time_s": epoch_time, "finetune/clips_per_s": clip_total / epoch_time,
                   "data/skipped_videos": len(bad)}
        metrics |= evaluate(model, val_loader, w, "val", len(val_items), d.max_unreadable_fraction)
        metrics["finetune/top1"] = metrics["finetune/val_top1"]
        metrics["finetune/top5"] = metrics["finetune/val_top5"]
        last = epoch == f.epochs - 1
        if last:
            test_loader = make_loader(ClipDataset(test_items, d, False, cfg.seed), f.batch_size, False, w,
                                      cfg.seed, d.loader_workers)
            metrics |= evaluate(model, test_loader, w, "test", len(test_items), d.max_unreadable_fraction)
        state = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        report(metrics, state, w)
        if w.is_main:
            w.log.metrics({k: v for k, v in metrics.items() if k != "stage"}, step=epoch + 1)
            if bad:
                w.log.text("\n".join(bad) + "\n", "data/unreadable_train.txt")
            if last:
                _log_weights(unwrap(model), w)


def _log_weights(model, w: Worker) -> None:
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "finetuned.safetensors")
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
        w.log.artifact(path, "model")
