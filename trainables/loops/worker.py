"""What both training loops do on each worker of a trial: set-up, sharded loaders,
cross-worker sums, checkpoints, the learning-rate schedule and the trial's timeline. Where
the worker runs (a Ray Train worker group, or the Tune trial driver itself) is its session
(trainables/loops/session.py). Ray is imported where it is used, so a loop's step (Worker,
autocast, losses) also runs where Ray is not installed: the GPU benchmark runs on a bare
CUDA machine."""
from __future__ import annotations

import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from trainables.data.clips import collate_clips
from trainables.run_logger import RunLogger

CHECKPOINT_FILE = "state.pt"
EPOCH_METRICS = "epoch_metrics"  # the metrics of the epoch a checkpoint ends


class TrialFailure(RuntimeError):
    """A failure every rank sees alike and a restart from the last checkpoint would only
    repeat: the trial fails without worker-group restarts (see trainables/loops/trial.py)."""


class TrialDataError(TrialFailure):
    """A problem with the trial's data (too many unreadable clips, no full batch)."""


class NonFiniteLoss(TrialFailure):
    """The training loss became NaN or infinite (a diverged run: MAE's engine stops too)."""


class Timeline:
    """When each step of a trial happened, in seconds since its trial driver started
    (`origin`, a wall-clock time): rank 0 marks its events and logs them once, at the end
    (`timeline/<event>_s`; an attempt that restarted keeps the first time of an event)."""

    def __init__(self, origin: float | None = None):
        self.origin = origin
        self.events: dict[str, float] = {}

    def mark(self, event: str) -> None:
        if self.origin is not None and event not in self.events:
            self.events[event] = time.time() - self.origin

    def metrics(self) -> dict[str, float]:
        return {f"timeline/{event}_s": seconds for event, seconds in self.events.items()}


@dataclass
class Worker:
    rank: int
    world: int
    device: torch.device
    log: RunLogger
    precision: str = "fp32"
    session: Any = None                   # TrainSession or DriverSession; None outside a trial
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        """The forward pass's autocast: bf16 where the trial asks for it, else a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")


def start_worker(loop_config: dict, cpus_per_worker: float, seed: int, precision: str, session) -> Worker:
    torch.set_num_threads(max(1, int(cpus_per_worker)))
    rank, world = session.rank_and_world()
    seed_worker(seed, rank)
    log = RunLogger(loop_config.get("tracking_uri"), loop_config.get("run_id") if rank == 0 else None)
    device = session.device()
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return Worker(rank, world, device, log, precision, session, Timeline(loop_config.get("driver_started_at")))


def prepare(model: torch.nn.Module, compile_model: bool, w: Worker) -> torch.nn.Module:
    """On this worker's device, DDP-wrapped where the trial has several workers (and compiled,
    when asked)."""
    if compile_model:
        model = torch.compile(model)
    return w.session.prepare(model)


def seed_worker(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed)  # same init on every rank; DDP also broadcasts it


class ShardSampler(Sampler):
    """Evaluation shard: every clip exactly once over all workers (no padding repeats)."""

    def __init__(self, n: int, rank: int, world: int):
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class EpochIndices(Sampler):
    """Yields (epoch, index) keys: persistent loader workers keep their per-process caches
    (decode sizes, decoded videos) across epochs, and still crop and mask each epoch anew
    (a dataset's `set_epoch` in the main process would not reach them)."""

    def __init__(self, inner: Sampler):
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, i) for i in self.inner)

    def __len__(self):
        return len(self.inner)


def make_loader(dataset, batch_size: int, train: bool, w: Worker, seed: int, num_workers: int) -> DataLoader:
    sampler = (DistributedSampler(dataset, w.world, w.rank, shuffle=True, seed=seed, drop_last=True)
               if train else ShardSampler(len(dataset), w.rank, w.world))
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochIndices(sampler), num_workers=num_workers,
                      collate_fn=collate_clips, drop_last=train,
                      pin_memory=w.device.type == "cuda", persistent_workers=num_workers > 0,
                      multiprocessing_context="fork" if num_workers else None)


def all_sum(values: list[float], w: Worker) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=w.device)
    if w.world > 1:
        dist.all_reduce(t)
    return t.tolist()


def all_gather_lists(items: list, w: Worker) -> list:
    if w.world == 1:
        return list(items)
    out: list[list] = [None] * w.world  # type: ignore[list-item]
    dist.all_gather_object(out, items)
    return [x for part in out for x in part]


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float, floor: float) -> float:
    """Linear warm-up, then cosine decay to `floor` (per iteration, as VideoMAE)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def report(metrics: dict, state: dict | None, w: Worker) -> None:
    """Every rank reports; rank 0 attaches the checkpoint (a state dict, loaded weights_only)
    and then logs the epoch's metrics to MLflow. The checkpoint carries those metrics too, so
    a worker group restarted from it logs them if rank 0 died before it could
    (`log_checkpointed_epoch`); an epoch is logged once either way (`RunLogger.epoch`)."""
    epoch = {"stage": metrics["stage"], "step": metrics["epoch"],
             "values": {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "epoch"}}
    if w.is_main and state is not None:
        with tempfile.TemporaryDirectory() as tmp:
            torch.save({**state, EPOCH_METRICS: epoch}, os.path.join(tmp, CHECKPOINT_FILE))
            w.session.report(metrics, tmp)
    else:
        w.session.report(metrics, None)
    if w.is_main:
        w.log.epoch(**epoch)


def log_checkpointed_epoch(state: dict | None, w: Worker) -> None:
    if w.is_main and state is not None and EPOCH_METRICS in state:
        w.log.epoch(**state[EPOCH_METRICS])


def load_state(checkpoint) -> dict | None:
    """The state dict of a reported checkpoint (Ray Train's or Tune's), or None."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        return torch.load(os.path.join(d, CHECKPOINT_FILE), map_location="cpu", weights_only=True)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP's `.module` and torch.compile's `._orig_mod`."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def check_unreadable(names: list[str], total: int, max_fraction: float, split: str) -> None:
    if names and len(names) > max_fraction * total:
        shown = "\n  ".join(sorted(names)[:50])
        raise TrialDataError(f"{len(names)} of {total} clips in the {split} split are unreadable "
                           f"(more than data.max_unreadable_fraction={max_fraction}):\n  {shown}")
