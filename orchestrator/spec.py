"""The study spec: a trial config (`trainables.config`) plus how to sweep, schedule, place
and track it; validated once at the edge, then trusted inside."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trainables.config import Strict, TrialSections
from trainables.tracking import SCHEDULER_METRICS, VAL_TOP1


class ResourcesConfig(Strict):
    workers_per_trial: int = Field(2, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_concurrent_trials: int | None = Field(None, ge=1, description=(
        "default: as many trials as the cluster's CPUs and GPUs hold at once"))
    max_failures: int = Field(2, ge=0, description="worker-group restarts per trial")
    placement: Literal["pack", "spread"] = Field("pack", description=(
        "a trial's workers on as few nodes as possible (pack) or on different nodes (spread)"))
    driver_resource: str | None = Field(None, description=(
        "a custom resource only stable (non-preemptible) nodes advertise; trial drivers then "
        "run there, so losing a spot node costs a worker-group restart, not the trial"))
    worker_group: Literal["auto", "always"] = Field("auto", description=(
        "auto: a one-worker trial runs in its Tune trial driver, without a Ray Train worker group "
        "(seconds less per trial; retried from its checkpoint by Tune); always: every trial on a worker group"))

    @property
    def in_driver(self) -> bool:
        """Trials run in their drivers: one worker, and no stable-node pinning of drivers
        (which is there to keep the workers, not the driver, off preemptible nodes)."""
        return self.workers_per_trial == 1 and self.worker_group == "auto" and self.driver_resource is None


class TrackingConfig(Strict):
    uri: str = "sqlite:///mlflow.db"
    experiment: str | None = Field(None, description="defaults to the study name")
    artifact_location: str = "./mlartifacts"


class StorageConfig(Strict):
    path: str = "./maskray_results"


class SearchConfig(Strict):
    """grid: every combination of the sweep's values; random: `num_samples` of them drawn
    without replacement (by `seed`); either way each drawn point runs once per seed.
    optuna: `num_samples` trials whose points Optuna's TPE sampler picks from the sweep's
    values, each learning from the finished ones on `metric` (one seed)."""
    kind: Literal["grid", "random", "optuna"] = "grid"
    num_samples: int | None = Field(None, ge=1)
    seed: int = 0
    metric: str = Field(VAL_TOP1, description="optuna: the final result it optimizes")

    @model_validator(mode="after")
    def _samples_and_metric(self):
        if self.kind in ("random", "optuna") and self.num_samples is None:
            raise ValueError(f"search.kind {self.kind!r} needs search.num_samples")
        if self.metric not in SCHEDULER_METRICS:
            raise ValueError(f"search.metric {self.metric!r} is not reported; use one of "
                             f"{', '.join(SCHEDULER_METRICS)}")
        return self

    @property
    def mode(self) -> str:
        return SCHEDULER_METRICS[self.metric]


class SchedulerConfig(Strict):
    """fifo: every trial runs to the end; asha: Tune's ASHA stops trials whose `metric` is
    behind at each rung (`training_iteration` counts the epochs of both stages)."""
    kind: Literal["fifo", "asha"] = "fifo"
    metric: Literal[tuple(SCHEDULER_METRICS)] = VAL_TOP1
    grace_period: int = Field(2, ge=1, description="epochs before a trial can be stopped")
    reduction_factor: float = Field(3.0, gt=1.0)

    @property
    def mode(self) -> str:
        return SCHEDULER_METRICS[self.metric]


class StudySpec(TrialSections):
    """A study: the base trial config plus the axes and how to run them."""
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    tracking: TrackingConfig = TrackingConfig()
    storage: StorageConfig = StorageConfig()
    control: bool = Field(False, description=(
        "add a from-scratch arm: every combination of the non-pretraining axes fine-tuned without "
        "pretraining (pretrain.enabled: false), every seed; the report gives each arm's gain over it"))
    reference: dict[str, Any] | None = Field(None, description=(
        "the arm the others are compared with (axis path → value, e.g. the paper's default); the report "
        "gives each arm's paired difference from it"))

    @field_validator("sweep")
    @classmethod
    def _axes_not_empty(cls, v: dict[str, list[Any]]):
        for path, values in v.items():
            if not values:
                raise ValueError(f"axis {path!r} has no values")
            if path.split(".")[0] not in TrialSections.model_fields:
                raise ValueError(f"axis {path!r} is not a trial config path (sections: "
                                 f"{', '.join(TrialSections.model_fields)}; seeds are the 'seeds' list)")
        return v

    @model_validator(mode="after")
    def _optuna_runs_each_point_once(self):
        if self.search.kind == "optuna" and len(self.seeds) > 1:
            raise ValueError(f"search.kind 'optuna' runs each point it picks once: give one seed "
                             f"(seeds = {self.seeds})")
        if self.search.kind == "optuna" and self.control:
            raise ValueError("control: true needs a grid or random search (Optuna picks every trial it runs)")
        return self

    @model_validator(mode="after")
    def _reference_is_a_point_of_the_sweep(self):
        if self.reference is not None:
            unknown = sorted(set(self.reference) - set(self.sweep))
            if unknown:
                raise ValueError(f"reference: {unknown} are not axes of the sweep ({', '.join(self.sweep) or 'none'})")
            missing = sorted(set(self.sweep) - set(self.reference))
            if missing:
                raise ValueError(f"reference: give a value for every axis (missing {missing})")
            off = {k: v for k, v in self.reference.items() if v not in self.sweep[k]}
            if off:
                raise ValueError(f"reference: {off} are not values of their axes")
        return self

    def base_trial(self) -> dict[str, Any]:
        return self.model_dump(include=set(TrialSections.model_fields))
