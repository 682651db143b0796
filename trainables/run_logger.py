"""Rank 0's line to the trial's MLflow run (metrics with steps, artifacts)."""
from __future__ import annotations

import time
from pathlib import Path


class RunLogger:
    """Logs to one MLflow run; a no-op without a run id (a loop run outside a study)."""

    def __init__(self, tracking_uri: str | None, run_id: str | None):
        self.run_id = run_id
        self._client = None
        self._epochs_logged: dict[str, set[int]] = {}
        self._at_start: set[str] | None = None   # step-0 metrics the run already has
        if run_id:
            from mlflow.tracking import MlflowClient
            self._client = MlflowClient(tracking_uri)

    def metrics(self, values: dict[str, float], step: int) -> None:
        """Logs `values` at `step`. A step-0 value (set-up: FLOPs, timings, the k-NN at init) the
        run already has is not logged again: a worker group restarted before its first
        checkpoint runs its set-up again."""
        if not self._client or not values:
            return
        if step == 0:
            if self._at_start is None:
                self._at_start = set(self._client.get_run(self.run_id).data.metrics)
            values = {k: v for k, v in values.items() if k not in self._at_start}
            self._at_start |= set(values)
            if not values:
                return
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in values.items()]
        self._client.log_batch(self.run_id, metrics=batch)

    def epoch(self, stage: str, step: int, values: dict[str, float]) -> None:
        """One epoch's metrics, with `<stage>/epoch` as the marker that it was logged. An epoch
        an earlier attempt of the worker group logged is not logged again (its first values
        stand): Ray Train restarts from the last checkpoint its controller took in, which can
        be an epoch behind the last one rank 0 logged."""
        if not self._client or not values:
            return
        marker = f"{stage}/epoch"
        if marker not in self._epochs_logged:
            self._epochs_logged[marker] = {m.step for m in self._client.get_metric_history(self.run_id, marker)}
        if step in self._epochs_logged[marker]:
            return
        self.metrics({**values, marker: step}, step)
        self._epochs_logged[marker].add(step)

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        if self._client:
            self._client.log_artifact(self.run_id, str(path), folder)

    def artifacts(self, folder_path: str | Path, folder: str | None = None) -> None:
        if self._client:
            self._client.log_artifacts(self.run_id, str(folder_path), folder)

    def tag(self, key: str, value: str) -> None:
        if self._client:
            self._client.set_tag(self.run_id, key, value)

    def text(self, text: str, name: str) -> None:
        if self._client:
            self._client.log_text(self.run_id, text, name)
