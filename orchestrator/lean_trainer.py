"""Ray Train's TorchTrainer without the helper actors a maskray trial does not use.

Every Train run starts a controller, a synchronization actor and its workers, plus a
`DatasetManager` actor (for Ray Data inputs; maskray reads videos with its own loaders)
and a detached `PlacementGroupCleaner` (it removes the run's placement group should the
controller die without the cluster). Each is a fresh process importing ray.train, pandas
and ray.data: seconds of CPU per trial on a small machine. The first is never needed
here; the second only matters on a cluster that outlives the driver, so it is kept there."""
from __future__ import annotations

from ray.train.torch import TorchTrainer

ALWAYS_DROPPED = {"DatasetsCallback"}
DROPPED_ON_LOCAL_RAY = {"PlacementGroupCleanerCallback"}


class LeanTorchTrainer(TorchTrainer):
    def __init__(self, *args, local_ray: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._dropped = ALWAYS_DROPPED | (DROPPED_ON_LOCAL_RAY if local_ray else set())

    def _create_default_callbacks(self):
        # A private hook of Ray Train V2 (checked with ray 2.60): a Ray without it keeps them all.
        callbacks = super()._create_default_callbacks()
        return [c for c in callbacks if type(c).__name__ not in self._dropped]
