"""The reconstruction loss of masked pretraining (and of MAR's masked fine-tuning branch):
each target's labels on the masked tokens against its decoder's predictions."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD, model_input
from trainables.targets.registry import get_target


class ReconstructionLoss:
    """A batch → the weighted sum of each target's loss on the masked tokens: MSE on
    regression targets, cross-entropy on code targets (the forward under the trial's
    autocast, targets and losses in fp32). `w` is the worker: its device and autocast.

    It also keeps the loss's floor on the same tokens (`take_floor`): what predicting zero
    costs on a regression target (for per-token normalized pixels ≈ 1), what a uniform guess
    over the codes costs on a code target — a model that learned nothing sits at it."""

    def __init__(self, model, weights: dict[str, float], tubelet: int, patch: int, w,
                 tokenizer_dir: str | None = None):
        self.model, self.weights, self.tubelet, self.patch, self.w = model, weights, tubelet, patch, w
        self.targets = {name: get_target(name).bind(tokenizer_dir, w.device) for name in weights}
        self.mean, self.std = IMAGENET_MEAN.to(w.device), IMAGENET_STD.to(w.device)
        self._floor = torch.zeros((), device=w.device)     # Σ over clips, summed without a host sync
        self._clips = 0

    def __call__(self, batch: dict) -> torch.Tensor:
        video = model_input(batch["clip"], self.w.device)
        mask = batch["mask"].to(self.w.device, non_blocking=True)
        with self.w.autocast():
            predictions = self.model(video, mask)
        return self.of(predictions, video, mask)

    def of(self, predictions: dict, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The weighted loss of `predictions` for the masked tokens of normalized clips `video`."""
        loss = 0.0
        with torch.no_grad():
            pixels = video * self.std + self.mean                  # targets from [0, 1] pixels
        for name, target in self.targets.items():
            with torch.no_grad():
                labels = target(pixels, self.tubelet, self.patch)[mask]
            predicted = predictions[name].float()
            if target.loss == "cross_entropy":
                term = F.cross_entropy(predicted.flatten(0, 1), labels)
                floor = math.log(predicted.shape[-1])
            else:
                term = F.mse_loss(predicted, labels.reshape(predicted.shape))
                with torch.no_grad():
                    floor = labels.float().pow(2).mean()
            loss = loss + self.weights[name] * term
            self._floor = self._floor + self.weights[name] * floor * len(video)
        self._clips += len(video)
        return loss

    def take_floor(self) -> list[float]:
        """[Σ floor × clips, clips] since the last call (one host sync), for an epoch's mean."""
        out = [float(self._floor), float(self._clips)]
        self._floor, self._clips = torch.zeros((), device=self._floor.device), 0
        return out
