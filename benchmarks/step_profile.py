"""Where a pretraining step's time goes, on a study's own trial (default: the quickstart's
first pretrained trial) in this process, no Ray: each phase of the step timed over many
steps after one warm-up epoch (which fills the decoded-clip cache), then torch's profiler's
top operators by self CPU time. Prints each phase's share of the step, for each thread count.

    python benchmarks/step_profile.py [--study studies/quickstart.yaml] [--steps 60] [--threads 1 2]"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from orchestrator.launch import prepare_data
from orchestrator.study import expand_trials, load_study
from trainables.data.clips import ClipDataset, model_input
from trainables.data.lists import read_list
from trainables.loops.epoch import pretrain_adamw
from trainables.loops.session import LocalSession
from trainables.loops.worker import make_loader, start_worker
from trainables.models.build import build_autoencoder
from trainables.targets.loss import ReconstructionLoss

PHASES = ("fetch", "to_input", "forward", "loss", "backward", "optimizer", "loss_item")


def batches(loader, epoch: int):
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
    return iter(loader)


def timed_steps(model, loader, loss_fn, optimizer, steps: int) -> dict[str, float]:
    """Seconds per phase, summed over `steps` steps (epochs restart as the loader runs out)."""
    seconds: dict[str, float] = defaultdict(float)
    epoch, it, done = 1, batches(loader, 1), 0
    while done < steps:
        t0 = time.perf_counter()
        batch = next(it, None)
        if batch is None:
            epoch += 1
            it = batches(loader, epoch)
            continue
        t1 = time.perf_counter()
        video = model_input(batch["clip"], loss_fn.w.device)
        mask = batch["mask"]
        t2 = time.perf_counter()
        predictions = model(video, mask)
        t3 = time.perf_counter()
        loss = loss_fn.of(predictions, video, mask)
        t4 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t5 = time.perf_counter()
        optimizer.step()
        t6 = time.perf_counter()
        loss.item()
        t7 = time.perf_counter()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
            seconds[name] += b - a
        done += 1
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="studies/quickstart.yaml")
    ap.add_argument("--trial", type=int, help="trial index (default: the first pretrained one)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    trials = expand_trials(load_study(args.study), args.study)
    trial = trials[args.trial] if args.trial is not None else next(t for t in trials if t.config.pretrain.enabled)
    cfg = trial.config
    lists = prepare_data([trial])[cfg.data.root]
    w = start_worker({}, 1, cfg.seed, "fp32", LocalSession())
    dataset = ClipDataset(read_list(lists["train"], cfg.data.classes), cfg.data, train=True, seed=cfg.seed,
                          token_grid=cfg.token_grid, masking=cfg.pretrain.masking)
    loader = make_loader(dataset, cfg.pretrain.batch_size, True, w, cfg.seed, cfg.data.loader_workers)
    model = build_autoencoder(cfg)
    optimizer = pretrain_adamw(model, cfg.pretrain.weight_decay, w.device)
    for group in optimizer.param_groups:
        group["lr"] = 1e-4
    loss_fn = ReconstructionLoss(model, cfg.pretrain.loss_weights, cfg.model.tubelet_size, cfg.model.patch_size, w)
    started = time.perf_counter()
    for _ in batches(loader, 0):                       # decodes every clip once, into the cache
        pass
    print(f"{args.study} trial {trial.key} ({cfg.model.preset}, grid {list(cfg.token_grid)}, "
          f"{cfg.pretrain.masking.strategy} {cfg.pretrain.masking.ratio}, batch {cfg.pretrain.batch_size}, "
          f"loader_workers {cfg.data.loader_workers}); first epoch's decoding {time.perf_counter() - started:.1f} s")
    model.train()
    for threads in args.threads:
        torch.set_num_threads(threads)
        timed_steps(model, loader, loss_fn, optimizer, 5)
        seconds = timed_steps(model, loader, loss_fn, optimizer, args.steps)
        step = sum(seconds.values()) / args.steps
        shares = "  ".join(f"{name} {100 * seconds[name] / (step * args.steps):4.1f}%" for name in PHASES)
        print(f"RESULT threads={threads} step_ms={1000 * step:.1f} clips_per_s={cfg.pretrain.batch_size / step:.0f}  {shares}")
    torch.set_num_threads(args.threads[0])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timed_steps(model, loader, loss_fn, optimizer, 20)
    print(f"top operators over 20 steps, {args.threads[0]} thread(s), by self CPU time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=48))


if __name__ == "__main__":
    main()
