"""Ray Train's TorchTrainer without the helper actor a maskray trial does not use.

Every Train run starts a controller, a synchronization actor and its workers, a detached
`PlacementGroupCleaner`, and a `DatasetManager` actor for Ray Data inputs. maskray reads
videos with its own loaders, so the last is never needed; it is a fresh process importing
ray.train, pandas and ray.data — seconds of CPU per trial on a small machine. (The cleaner
stays: when Tune stops a trial early — ASHA — it is what frees the trial's placement group;
without it the next trial waits forever for CPUs.)"""
from __future__ import annotations

from ray.train.torch import TorchTrainer

DROPPED = {"DatasetsCallback"}


class LeanTorchTrainer(TorchTrainer):
    def _create_default_callbacks(self):
        # A private hook of Ray Train V2 (checked with ray 2.60): a Ray without it keeps them all.
        callbacks = super()._create_default_callbacks()
        return [c for c in callbacks if type(c).__name__ not in DROPPED]
