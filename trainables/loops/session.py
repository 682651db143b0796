"""Where a trial's loop runs, and so how it reports, checkpoints and places its model.

`TrainSession`: a rank of a Ray Train worker group (several DDP workers, or one where the
study asks for a worker group). `DriverSession`: the whole trial inside its Tune trial
driver, one worker and no worker group: no Train controller, synchronization actor or worker
processes to start, and the driver actor (with its imports) is reused from trial to trial.
It reports and checkpoints through Tune, which restores its checkpoint on a retry or a
resumed study as Ray Train does for a restarted worker group."""
from __future__ import annotations

import torch


class TrainSession:
    """A rank of a Ray Train worker group."""

    def rank_and_world(self) -> tuple[int, int]:
        import ray.train
        ctx = ray.train.get_context()
        return ctx.get_world_rank(), ctx.get_world_size()

    def device(self) -> torch.device:
        import ray.train.torch
        return ray.train.torch.get_device()

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """On the worker's device, DDP-wrapped when there are several workers."""
        import ray.train.torch
        return ray.train.torch.prepare_model(model)

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        import ray.train
        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    def checkpoint(self):
        import ray.train
        return ray.train.get_checkpoint()


class DriverSession:
    """The trial in its Tune trial driver: rank 0 of 1, on the GPU Tune gave the driver if any."""

    def rank_and_world(self) -> tuple[int, int]:
        return 0, 1

    def device(self) -> torch.device:
        import ray
        return torch.device("cuda", 0) if ray.get_gpu_ids() and torch.cuda.is_available() else torch.device("cpu")

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device())

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        import ray.tune
        checkpoint = ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.tune.report(metrics, checkpoint=checkpoint)

    def checkpoint(self):
        import ray.tune
        return ray.tune.get_checkpoint()


class LocalSession(DriverSession):
    """A loop run outside any study (benchmarks, tests): rank 0 of 1 on the CPU, its reports
    kept in `reported`, no checkpoint to resume from."""

    def __init__(self):
        self.reported: list[dict] = []

    def device(self) -> torch.device:
        return torch.device("cpu")

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        self.reported.append(dict(metrics))

    def checkpoint(self):
        return None
