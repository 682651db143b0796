"""`search: optuna`: Optuna's TPE sampler picks which point of the sweep each trial runs.

Every point was expanded and validated before launch like a grid's; Optuna only sees one
categorical index per axis (its categories must be plain values, the sweep's may be dicts)
and this searcher turns its pick into that point's trial. A point picked again runs as a
trial of its own (key and id suffixed r1, r2, ...), so MLflow keeps one run per trial."""
from __future__ import annotations

import itertools

from ray.tune.search import Searcher


def index_space(sweep: dict[str, list]) -> dict:
    """Tune's param space for Optuna: one categorical index per axis."""
    from ray import tune
    return {"point": {f"axis{i}": tune.choice(list(range(len(values)))) for i, values in enumerate(sweep.values())}}


def points_by_index(sweep: dict[str, list], trials: list[dict]) -> dict[tuple[int, ...], dict]:
    """Index tuple → trial param, in the grid's order (one seed: one trial per point)."""
    combos = itertools.product(*(range(len(values)) for values in sweep.values()))
    return dict(zip(combos, trials))


class PointSearch(Searcher):
    """Wraps Ray Tune's OptunaSearch: its suggestion → the validated trial of that point."""

    def __init__(self, points: dict[tuple[int, ...], dict], metric: str, mode: str, seed: int):
        from ray.tune.search.optuna import OptunaSearch
        super().__init__(metric=metric, mode=mode)
        self.inner = OptunaSearch(metric=metric, mode=mode, seed=seed)
        self.points = points
        self.picked: dict[tuple[int, ...], int] = {}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str):
        config = self.inner.suggest(trial_id)
        if not isinstance(config, dict):
            return config
        index = tuple(config["point"][f"axis{i}"] for i in range(len(config["point"])))
        trial = dict(self.points[index])
        repeat = self.picked.get(index, 0)
        self.picked[index] = repeat + 1
        if repeat:
            trial["key"], trial["trial_id"] = f"{trial['key']}r{repeat}", f"{trial['trial_id']}r{repeat}"
        return {**config, "trial": trial}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.metric in result:          # pretraining epochs carry no fine-tuning metric
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)
