"""Ray Train's TorchTrainer without the helper actors a maskray trial does not use.

Every Train run starts a controller, a synchronization actor and its workers, a detached
`PlacementGroupCleaner`, and a `DatasetManager` actor for Ray Data inputs. Each is a fresh
Python process (seconds of CPU on a small machine: a bare Ray actor alone is ≈ 3 s here).
maskray reads videos with its own loaders, so the `DatasetManager` is never needed. The
cleaner frees the run's placement group when its controller dies without cleaning up, which
happens when Tune stops a trial early (ASHA) or a trial's node is lost: it is kept for those
studies (`keep_cleaner`). It also polls Ray's state API every second for its whole run."""
from __future__ import annotations

from ray.train.torch import TorchTrainer


class LeanTorchTrainer(TorchTrainer):
    def __init__(self, *args, keep_cleaner: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self._dropped = {"DatasetsCallback"} | (set() if keep_cleaner else {"PlacementGroupCleanerCallback"})

    def _create_default_callbacks(self):
        # A private hook of Ray Train V2 (checked with ray 2.60): a Ray without it keeps them all.
        callbacks = super()._create_default_callbacks()
        return [c for c in callbacks if type(c).__name__ not in self._dropped]
