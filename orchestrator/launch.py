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
from trainables.fingerprint import code_fingerprint, config_hash, file_digest


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


STUDY_HASH_TAG = "maskray.study_hash"
STORAGE_TAG = "maskray.storage"


def study_hash(trials: list[Trial]) -> str:
    """What a resumed execution must match: every trial's key and resolved config."""
    return config_hash([[t.key, t.config.model_dump(mode="json")] for t in trials], 16)


def find_execution(spec: StudySpec, trials: list[Trial], tracking_uri: str | None, study_id: str | None) -> tuple[str, str]:
    """(study id, storage path) of the execution `maskray resume` continues: the given one or
    the latest unfinished one, refused when the study file no longer expands to its trials."""
    uri = tracking.absolute_uri(tracking_uri or spec.tracking.uri)
    name = spec.tracking.experiment or spec.name
    client = tracking.client(uri)
    experiment = client.get_experiment_by_name(name)
    query = f"tags.`{tracking.ROLE_TAG}` = 'study'" + (f" and tags.`{tracking.STUDY_TAG}` = '{study_id}'" if study_id else "")
    runs = client.search_runs([experiment.experiment_id], query, order_by=["attributes.start_time DESC"]) if experiment else []
    runs = [r for r in runs if study_id or r.info.status != "FINISHED"]
    if not runs:
        what = f"execution {study_id!r}" if study_id else "unfinished execution"
        raise UserInputError(f"study {name}", [f"no {what} of study {name!r} in {uri}"])
    parent = runs[0]
    found = parent.data.tags[tracking.STUDY_TAG]
    if parent.data.tags.get(STUDY_HASH_TAG) != study_hash(trials):
        raise UserInputError(f"study {name}", [
            f"the study file no longer gives the trials of execution {found} (a changed sweep, preset or "
            f"config): resuming would mix two studies; run it as a new execution with `maskray run`"])
    return found, parent.data.tags[STORAGE_TAG]


def run_study(spec: StudySpec, trials: list[Trial], study_file: str, address: str | None = None,
              tracking_uri: str | None = None, storage: str | None = None, num_cpus: int | None = None,
              verbose: bool = False, reuse_pretraining: bool = True, resume_id: str | None = None,
              retry_failed: bool = False):
    """A new execution of the study, or with `resume_id` the interrupted one continued: Tune
    restores its experiment (finished trials stay finished), each trial driver reattaches to
    its MLflow run, and each Train run resumes from its latest checkpoint."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables off: ProgressPrinter reports
    from ray import tune

    from orchestrator.progress import ProgressPrinter

    lists = prepare_data(trials)
    tokenizers = build_tokenizers(trials, lists)
    uri = tracking.absolute_uri(tracking_uri or spec.tracking.uri)
    storage_path = storage or spec.storage.path
    if "://" not in storage_path:
        storage_path = str(Path(storage_path).resolve())
    study_id = resume_id or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    experiment_path = f"{storage_path.rstrip('/')}/{study_id}"
    if resume_id and not tune.Tuner.can_restore(experiment_path):
        raise UserInputError(f"study {spec.name}", [f"no Tune experiment of {study_id} under {storage_path} "
                                                    f"(--storage where it ran)"])

    started_locally = cluster.connect(address, num_cpus, verbose)
    try:
        cluster.check_fits(spec.resources, started_locally, uri, storage_path)
        experiment_id = tracking.ensure_experiment(uri, spec.tracking.experiment or spec.name,
                                                   spec.tracking.artifact_location)
        parent_id = tracking.parent_run(uri, experiment_id, study_id, study_id, {
            "study.name": spec.name, "study.trials": len(trials), "study.seeds": spec.seeds,
            **{f"study.axis.{k}": v for k, v in spec.sweep.items()}})
        client = tracking.client(uri)
        if resume_id:
            client.update_run(parent_id, status="RUNNING")
        else:
            client.set_tag(parent_id, STUDY_HASH_TAG, study_hash(trials))
            client.set_tag(parent_id, STORAGE_TAG, storage_path)
            client.log_artifact(parent_id, study_file, "study")
        r = spec.resources
        claims = pretrain_cache.start_claims(study_id) if reuse_pretraining else None
        context = StudyContext(study_id, uri, experiment_id, parent_id, storage_path, r.workers_per_trial,
                               r.cpus_per_worker, r.gpus_per_worker, r.max_failures, lists, claims,
                               placement=r.placement,
                               # one machine, no early stopping: every controller cleans up after itself
                               keep_pg_cleaner=spec.scheduler.kind == "asha" or not started_locally)
        code = code_fingerprint()
        digests = {root: {split: file_digest(path) for split, path in paths.items()} for root, paths in lists.items()}
        trial_params = []
        for t in trials:
            config = t.config.model_dump(mode="json")
            trial_params.append({
                "key": t.key, "trial_id": t.trial_id, "axes": t.axes, "config": config,
                "pretrain_key": pretrain_cache.pretrain_key(config, r.workers_per_trial, digests[t.config.data.root], code),
                "tokenizer_dir": tokenizers.get(t.key)})
        param_space, search_alg, num_samples = _search(spec, trial_params)
        trainable = tune.with_resources(tune.with_parameters(run_trial, study=context),
                                        cluster.trial_driver_resources(r))
        print(f"study {study_id}: {len(trials)} trials{' (resumed)' if resume_id else ''}, MLflow {uri} "
              f"(experiment {spec.tracking.experiment or spec.name}, parent run {parent_id})", flush=True)
        if resume_id:
            # Tune's experiment state is a pickle: only ever restored from the study's own storage.
            tuner = tune.Tuner.restore(experiment_path, trainable, resume_unfinished=True,
                                       resume_errored=retry_failed, param_space=param_space)
        else:
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(max_concurrent_trials=cluster.concurrent_trials(r),
                                            scheduler=_scheduler(spec, trials), search_alg=search_alg,
                                            num_samples=num_samples,
                                            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                                            # A trial Tune stops early (ASHA, also at max_t) still
                                            # runs its trainer: its actor cannot be reset within
                                            # Tune's 2 s and the study hung on the next trial.
                                            reuse_actors=spec.scheduler.kind == "fifo"),
                run_config=tune.RunConfig(name=study_id, storage_path=storage_path, verbose=0,
                                          callbacks=[ProgressPrinter(num_samples if search_alg else len(trials))],
                                          failure_config=tune.FailureConfig(max_failures=0)))
        grid = tuner.fit()
        _close_runs(client, uri, experiment_id, study_id, parent_id, grid, spec.scheduler.kind == "asha")
        return study_id, parent_id, grid
    finally:
        if started_locally:
            cluster.shutdown()


def _close_runs(client, uri: str, experiment_id: str, study_id: str, parent_id: str, grid, asha: bool) -> None:
    """Closes the runs Tune stopped before their drivers did (ASHA, Ctrl-C): FINISHED when the
    trial completed (ASHA may stop a trial at its last epoch), else KILLED. A driver can see
    its trainer die as Tune stops it (Tune removes the trial's placement group, the Train
    controller's with it) and mark its run FAILED: Tune's result, without an error, decides."""
    results = {r.config["trial"]["key"]: r for r in grid}

    def completed(r) -> bool:
        return r.error is None and "finetune/test_top1" in (r.metrics or {})
    for run in tracking.child_runs(uri, experiment_id, study_id):
        r = results.get(run.data.tags.get("maskray.trial_key"))
        no_error = r is not None and r.error is None
        if not (run.info.status == "RUNNING" or (run.info.status == "FAILED" and no_error)):
            continue
        done = no_error and completed(r)
        if asha and no_error and not done:
            client.set_tag(run.info.run_id, "maskray.stopped_by", "asha")
        client.set_terminated(run.info.run_id, "FINISHED" if done else "KILLED")
    finished = all(completed(r) or (asha and r.error is None) for r in grid)
    client.set_terminated(parent_id, "FINISHED" if finished else "FAILED")


def _search(spec: StudySpec, trial_params: list[dict]):
    """(param space, search algorithm, num_samples): every trial once (grid, random), or
    Optuna picking `num_samples` points of the validated grid."""
    from ray import tune
    if spec.search.kind != "optuna":
        return {"trial": tune.grid_search(trial_params)}, None, 1
    from orchestrator.optuna_search import PointSearch, index_space, points_by_index
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"   # pretraining results lack the metric
    s = spec.search
    searcher = PointSearch(points_by_index(spec.sweep, trial_params), s.metric, s.mode, s.seed)
    return index_space(spec.sweep), searcher, s.num_samples


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
