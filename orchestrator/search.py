"""Which trials a study runs and which Tune stops early: the search (`grid`, `random`,
`optuna`) and the scheduler (`fifo`, `asha`).

grid and random pick their points when the study is expanded (`search_points`); every point
is then validated as a trial before anything starts. optuna sees the same validated points:
Optuna's TPE sampler picks one categorical index per axis (its categories must be plain
values, the sweep's may be dicts) and `PointSearch` turns its pick into that point's trial.
A point picked again runs as a trial of its own (key and id suffixed r1, r2, ...), so MLflow
keeps one run per trial. Ray Tune is imported only when a study is launched."""
from __future__ import annotations

import functools
import itertools
import os
import random

from orchestrator.errors import UserInputError


def search_points(spec, source: str) -> list[tuple]:
    """The sweep's value combinations the search runs: all (grid, and optuna picks among
    all of them) or a seeded random subset."""
    points = list(itertools.product(*spec.sweep.values()))
    if spec.search.kind in ("grid", "optuna"):
        return points
    n = spec.search.num_samples
    if n > len(points):
        raise UserInputError(source, [f"search.num_samples = {n}: the sweep has only {len(points)} combinations"])
    rng = random.Random(spec.search.seed)
    return [points[i] for i in sorted(rng.sample(range(len(points)), n))]


def tune_search(spec, trial_params: list[dict]):
    """(param space, search algorithm, num_samples): every trial once (grid, random), or
    Optuna picking `num_samples` points of the validated grid."""
    from ray import tune
    if spec.search.kind != "optuna":
        return {"trial": tune.grid_search(trial_params)}, None, 1
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"   # pretraining results lack the metric
    s = spec.search
    searcher = _point_search_class()(points_by_index(spec.sweep, trial_params), s.metric, s.mode, s.seed)
    return index_space(spec.sweep), searcher, s.num_samples


def scheduler(spec, trials):
    """None (FIFO) or ASHA on the study's metric, over both stages' epochs."""
    s = spec.scheduler
    if s.kind == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler
    # Pretraining results carry no fine-tuning metric; ASHA waits for it, Tune must not fail on it.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # One past the last epoch: at max_t ASHA stops the trial at its last epoch's report, before
    # its test evaluation, and a trial run in its Tune driver then ends without a test result.
    max_t = 1 + max((t.config.pretrain.epochs if t.config.pretrain.enabled else 0) + t.config.finetune.epochs
                    for t in trials)
    return ASHAScheduler(time_attr="training_iteration", metric=s.metric, mode=s.mode, max_t=max_t,
                         grace_period=s.grace_period, reduction_factor=s.reduction_factor)


def index_space(sweep: dict[str, list]) -> dict:
    """Tune's param space for Optuna: one categorical index per axis."""
    from ray import tune
    return {"point": {f"axis{i}": tune.choice(list(range(len(values)))) for i, values in enumerate(sweep.values())}}


def points_by_index(sweep: dict[str, list], trials: list[dict]) -> dict[tuple[int, ...], dict]:
    """Index tuple → trial param, in the grid's order (one seed: one trial per point)."""
    combos = itertools.product(*(range(len(values)) for values in sweep.values()))
    return dict(zip(combos, trials))


def __getattr__(name: str):
    # PointSearch subclasses Ray Tune's Searcher: it is made on first use, so expanding a study
    # does not import Ray Tune; it pickles by name (Tune saves its searcher with the study).
    if name == "PointSearch":
        return _point_search_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _point_search_class():
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class PointSearch(Searcher):
        """Wraps Ray Tune's OptunaSearch: its suggestion → the validated trial of that point."""

        def __init__(self, points: dict[tuple[int, ...], dict], metric: str, mode: str, seed: int):
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

    PointSearch.__module__, PointSearch.__qualname__ = __name__, "PointSearch"
    return PointSearch
