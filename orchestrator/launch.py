"""Running a study: data and tracking prepared up front, then one Tune trial per trial config."""
from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator import cluster, pretrain_cache, tracking
from orchestrator.errors import UserInputError
from orchestrator.spec import StudySpec
from orchestrator.study import Trial
from orchestrator.trial_driver import StudyContext, run_trial
from trainables.fingerprint import code_fingerprint


def prepare_data(trials: list[Trial]) -> dict[str, dict[str, str]]:
    """Generates synthetic-actions where needed; checks every list exists. → root → split → path."""
    lists: dict[str, dict[str, str]] = {}
    for trial in trials:
        d = trial.config.data
        if d.root in lists:
            continue
        root = Path(d.root).resolve()
        if d.source == "synthetic-actions":
            from trainables.data import synth
            manifest_path = root / "manifest.json"
            if not manifest_path.exists():
                print(f"generating synthetic-actions in {root} ...", flush=True)
            synth.ensure(root, **d.synth.model_dump())
        paths = {s: root / getattr(d, f"{s}_list") for s in ("train", "val", "test")}
        missing = [f"data.{s}_list: {p} does not exist" for s, p in paths.items() if not p.is_file()]
        if missing:
            raise UserInputError(f"data.root={d.root}", missing)
        lists[d.root] = {s: str(p) for s, p in paths.items()}
    _extract_motion(trials, lists)
    return lists


def build_tokenizers(trials: list[Trial], lists: dict[str, dict[str, str]]) -> dict[str, str]:
    """The VQ tokenizer of every trial with a `vq_codes` target, trained on its training
    split where it is not cached yet. → trial key → tokenizer folder."""
    from trainables.targets import get_target
    needing = [t for t in trials if t.config.pretrain.enabled
               and any(get_target(name).needs_tokenizer for name in t.config.pretrain.loss_weights)]
    if not needing:
        return {}
    from trainables.tokenizer.cache import ensure_tokenizer
    out = {}
    for t in needing:
        c = t.config
        out[t.key] = str(ensure_tokenizer(lists[c.data.root]["train"], c.data, c.token_grid, c.model.tubelet_size,
                                          c.model.patch_size, c.pretrain.tokenizer))
    return out


def _extract_motion(trials: list[Trial], lists: dict[str, dict[str, str]]) -> None:
    """Codec motion vectors for the datasets that motion-guided trials read, extracted once
    here rather than by every worker of every trial."""
    from trainables.masking import get_strategy
    roots = {t.config.data.root for t in trials
             if any(m is not None and get_strategy(m.strategy).needs_motion
                    for m in (t.config.pretrain.masking, t.config.finetune.masking))}
    if not roots:
        return
    from trainables.data.motion_extract import extract_lists
    for root in sorted(roots):
        extract_lists(list(lists[root].values()))


def run_study(spec: StudySpec, trials: list[Trial], study_file: str, address: str | None = None,
              tracking_uri: str | None = None, storage: str | None = None, num_cpus: int | None = None,
              verbose: bool = False, reuse_pretraining: bool = True):
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables off: ProgressPrinter reports
    from ray import tune

    from orchestrator.progress import ProgressPrinter

    lists = prepare_data(trials)
    tokenizers = build_tokenizers(trials, lists)
    uri = tracking.absolute_uri(tracking_uri or spec.tracking.uri)
    storage_path = storage or spec.storage.path
    if "://" not in storage_path:
        storage_path = str(Path(storage_path).resolve())
    study_id = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"

    started_locally = cluster.connect(address, num_cpus, verbose)
    try:
        cluster.check_fits(spec.resources, started_locally, uri, storage_path)
        experiment_id = tracking.ensure_experiment(uri, spec.tracking.experiment or spec.name,
                                                   spec.tracking.artifact_location)
        parent_id = tracking.parent_run(uri, experiment_id, study_id, study_id, {
            "study.name": spec.name, "study.trials": len(trials), "study.seeds": spec.seeds,
            **{f"study.axis.{k}": v for k, v in spec.sweep.items()}})
        client = tracking.client(uri)
        client.log_artifact(parent_id, study_file, "study")
        r = spec.resources
        claims = pretrain_cache.start_claims(study_id) if reuse_pretraining else None
        context = StudyContext(study_id, uri, experiment_id, parent_id, storage_path, r.workers_per_trial,
                               r.cpus_per_worker, r.gpus_per_worker, r.max_failures, lists, claims,
                               local_ray=started_locally, placement=r.placement)
        code = code_fingerprint()
        param_space = {"trial": tune.grid_search([
            {"key": t.key, "trial_id": t.trial_id, "axes": t.axes, "config": t.config.model_dump(mode="json"),
             "pretrain_key": pretrain_cache.pretrain_key(t.config.model_dump(mode="json"), r.workers_per_trial,
                                                         lists[t.config.data.root], code),
             "tokenizer_dir": tokenizers.get(t.key)}
            for t in trials])}
        trainable = tune.with_resources(tune.with_parameters(run_trial, study=context),
                                        cluster.trial_driver_resources(r))
        print(f"study {study_id}: {len(trials)} trials, MLflow {uri} (experiment {spec.tracking.experiment or spec.name}, "
              f"parent run {parent_id})", flush=True)
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(max_concurrent_trials=cluster.concurrent_trials(r),
                                        scheduler=_scheduler(spec, trials),
                                        trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(name=study_id, storage_path=storage_path, verbose=0,
                                      callbacks=[ProgressPrinter(len(trials))],
                                      failure_config=tune.FailureConfig(max_failures=0)))
        grid = tuner.fit()
        asha = spec.scheduler.kind == "asha"
        finished = all(r.error is None and ("finetune/test_top1" in (r.metrics or {}) or asha) for r in grid)
        # Trials Tune stopped (ASHA, Ctrl-C) never reached their own set_terminated.
        stopped = {r.config["trial"]["key"] for r in grid
                   if asha and r.error is None and "finetune/test_top1" not in (r.metrics or {})}
        for run in tracking.child_runs(uri, experiment_id, study_id, status="RUNNING"):
            if run.data.tags.get("maskray.trial_key") in stopped:
                client.set_tag(run.info.run_id, "maskray.stopped_by", "asha")
            client.set_terminated(run.info.run_id, "KILLED")
        client.set_terminated(parent_id, "FINISHED" if finished else "FAILED")
        return study_id, parent_id, grid
    finally:
        if started_locally:
            cluster.shutdown()


def _scheduler(spec: StudySpec, trials: list[Trial]):
    """None (FIFO) or ASHA on the study's metric, over both stages' epochs."""
    s = spec.scheduler
    if s.kind == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler
    # Pretraining results carry no fine-tuning metric; ASHA waits for it, Tune must not fail on it.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    max_t = max((t.config.pretrain.epochs if t.config.pretrain.enabled else 0) + t.config.finetune.epochs
                for t in trials)
    return ASHAScheduler(time_attr="training_iteration", metric=s.metric, mode=s.mode, max_t=max_t,
                         grace_period=s.grace_period, reduction_factor=s.reduction_factor)


def _trial_name(trial) -> str:
    return trial.config["trial"]["key"]
