"""Running a study execution, step by step: data and tokenizers prepared, Ray connected and
checked, the parent run opened, the trials' params built, Tune run (or restored), the runs
closed. One Tune trial per trial config; each one is orchestrator/trial_driver.py."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator import cluster, preflight, pretrain_cache, search
from orchestrator.errors import UserInputError
from orchestrator.spec import StudySpec
from orchestrator.study import Trial
from orchestrator.trial_driver import StudyContext, run_trial
from trainables import tracking
from trainables.fingerprint import code_fingerprint, config_hash, file_digest
from trainables.tracking import STORAGE_TAG, STUDY_HASH_TAG, TEST_TOP1


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
        lists[d.root] = preflight.check_lists(d)
    _extract_motion(trials, lists)
    return lists


def build_tokenizers(trials: list[Trial], lists: dict[str, dict[str, str]]) -> dict[str, str]:
    """The VQ tokenizer of every trial with a `vq_codes` target, trained on its training
    split where it is not cached yet. → trial key → tokenizer folder."""
    needing = [t for t in trials if needs_tokenizer(t)]
    if not needing:
        return {}
    from trainables.tokenizer.cache import ensure_tokenizer
    out = {}
    for t in needing:
        c = t.config
        out[t.key] = str(ensure_tokenizer(lists[c.data.root]["train"], c.data, c.token_grid, c.model.tubelet_size,
                                          c.model.patch_size, c.pretrain.tokenizer))
    return out


def needs_tokenizer(trial: Trial) -> bool:
    from trainables.targets import get_target
    c = trial.config
    return c.pretrain.enabled and any(get_target(name).needs_tokenizer for name in c.pretrain.loss_weights)


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


@dataclass(frozen=True)
class LaunchOptions:
    """How to run a study, from the command line (the study file says what to run)."""
    address: str | None = None         # an existing Ray cluster; None: RAY_ADDRESS, else a local Ray
    tracking_uri: str | None = None    # overrides tracking.uri
    storage: str | None = None         # overrides storage.path
    num_cpus: int | None = None        # a local Ray's CPUs
    verbose: bool = False
    reuse_pretraining: bool = True
    resume_id: str | None = None       # continue this execution instead of starting one
    retry_failed: bool = False         # with resume_id: also rerun the failed trials


@dataclass(frozen=True)
class Execution:
    """One execution of a study: where it is tracked and where Tune keeps its state."""
    study_id: str
    tracking_uri: str
    storage_path: str
    resumed: bool

    @property
    def experiment_path(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.study_id}"


def study_hash(trials: list[Trial]) -> str:
    """What a resumed execution must match: every trial's key and resolved config."""
    return config_hash([[t.key, t.config.model_dump(mode="json")] for t in trials], 16)


def find_execution(spec: StudySpec, trials: list[Trial], tracking_uri: str | None, study_id: str | None) -> tuple[str, str]:
    """(study id, storage path) of the execution `maskray resume` continues: the given one or
    the latest unfinished one, refused when the study file no longer expands to its trials."""
    uri = tracking.absolute_uri(tracking_uri or spec.tracking.uri)
    name = spec.tracking.experiment or spec.name
    experiment = tracking.client(uri).get_experiment_by_name(name)
    runs = tracking.study_executions(uri, experiment.experiment_id, study_id) if experiment else []
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


def run_study(spec: StudySpec, trials: list[Trial], study_file: str, options: LaunchOptions = LaunchOptions()):
    """A new execution of the study, or with `options.resume_id` the interrupted one continued:
    Tune restores its experiment (finished trials stay finished), each trial driver reattaches
    to its MLflow run, and each Train run resumes from its latest checkpoint.
    → (study id, parent run id, Tune's result grid)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables off: ProgressPrinter reports
    # Tune snapshots its state each time a trial checkpoints num_to_keep times (a few ms here) and
    # warns when that is often; one-worker trials checkpoint every epoch, seconds apart
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    lists = prepare_data(trials)
    tokenizers = build_tokenizers(trials, lists)
    execution = _plan_execution(spec, options)
    started_locally = cluster.connect(options.address, options.num_cpus, options.verbose)
    try:
        cluster.check_fits(spec.resources, started_locally, execution.tracking_uri, execution.storage_path)
        experiment_id, parent_id = _open_parent_run(spec, trials, study_file, execution)
        try:
            with _sigterm_as_sigint():   # after ray.init, which sets a SIGTERM handler of its own
                context = _study_context(spec, execution, experiment_id, parent_id, lists, options, started_locally)
                tuner = _tuner(spec, trials, _trial_params(spec, trials, lists, tokenizers), context, execution,
                               options)
                print(f"study {execution.study_id}: {len(trials)} trials{' (resumed)' if execution.resumed else ''}, "
                      f"MLflow {execution.tracking_uri} (experiment {spec.tracking.experiment or spec.name}, "
                      f"parent run {parent_id})", flush=True)
                grid = tuner.fit()
            tracking.close_study(execution.tracking_uri, experiment_id, execution.study_id, parent_id,
                                 _outcomes(grid), spec.scheduler.kind == "asha")
        except BaseException as e:
            _end_early(execution, experiment_id, parent_id, e)
            raise
        return execution.study_id, parent_id, grid
    finally:
        if started_locally:
            cluster.shutdown()


@contextmanager
def _sigterm_as_sigint():
    """SIGTERM (a scheduler's or `kill`'s stop) handled as Ctrl-C: Tune saves its state and
    stops its trials, the runs are closed, the local Ray is shut down; `maskray resume` goes on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_early(execution: Execution, experiment_id: str, parent_id: str, error: BaseException) -> None:
    """The study stopped on an error or an interrupt outside Tune's trials: its runs end KILLED
    (interrupt) or FAILED, with the reason, instead of staying RUNNING."""
    interrupted = isinstance(error, KeyboardInterrupt)
    reason = "interrupted (Ctrl-C or SIGTERM)" if interrupted else f"{type(error).__name__}: {error}"[:5000]
    try:
        tracking.end_study(execution.tracking_uri, experiment_id, execution.study_id, parent_id,
                           "KILLED" if interrupted else "FAILED", reason)
    except Exception as e:  # the tracking server itself may be what went away
        print(f"warning: could not mark study {execution.study_id}'s runs as ended ({e}); "
              f"`maskray resume` still continues it", file=sys.stderr, flush=True)


def _plan_execution(spec: StudySpec, options: LaunchOptions) -> Execution:
    """The execution's id, tracking store and storage; a resume must find Tune's state there."""
    from ray import tune
    storage_path = options.storage or spec.storage.path
    if "://" not in storage_path:
        storage_path = str(Path(storage_path).resolve())
    study_id = options.resume_id or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    execution = Execution(study_id, tracking.absolute_uri(options.tracking_uri or spec.tracking.uri), storage_path,
                          resumed=options.resume_id is not None)
    if execution.resumed and not tune.Tuner.can_restore(execution.experiment_path):
        raise UserInputError(f"study {spec.name}", [f"no Tune experiment of {study_id} under {storage_path} "
                                                    f"(--storage where it ran)"])
    return execution


def _open_parent_run(spec: StudySpec, trials: list[Trial], study_file: str, execution: Execution) -> tuple[str, str]:
    """(experiment id, parent run id): the study's experiment and this execution's run in it."""
    uri = execution.tracking_uri
    experiment_id = tracking.ensure_experiment(uri, spec.tracking.experiment or spec.name,
                                               spec.tracking.artifact_location)
    parent_id = tracking.parent_run(uri, experiment_id, execution.study_id, execution.study_id, {
        "study.name": spec.name, "study.trials": len(trials), "study.seeds": spec.seeds,
        **{f"study.axis.{k}": v for k, v in spec.sweep.items()}})
    client = tracking.client(uri)
    if execution.resumed:
        tracking.reopen(uri, client.get_run(parent_id))
    else:
        if spec.reference is not None:
            client.set_tag(parent_id, tracking.REFERENCE_TAG, json.dumps(spec.reference))
        client.set_tag(parent_id, STUDY_HASH_TAG, study_hash(trials))
        client.set_tag(parent_id, STORAGE_TAG, execution.storage_path)
        client.log_artifact(parent_id, study_file, "study")
    return experiment_id, parent_id


def _study_context(spec: StudySpec, execution: Execution, experiment_id: str, parent_id: str, lists: dict,
                   options: LaunchOptions, started_locally: bool) -> StudyContext:
    r = spec.resources
    claims = pretrain_cache.start_claims(execution.study_id) if options.reuse_pretraining else None
    return StudyContext(execution.study_id, execution.tracking_uri, experiment_id, parent_id,
                        execution.storage_path, r.workers_per_trial, r.cpus_per_worker, r.gpus_per_worker,
                        r.max_failures, lists, claims, placement=r.placement,
                        # one machine, no early stopping: every controller cleans up after itself
                        keep_pg_cleaner=spec.scheduler.kind == "asha" or not started_locally,
                        in_driver=r.in_driver)


def _trial_params(spec: StudySpec, trials: list[Trial], lists: dict, tokenizers: dict) -> list[dict]:
    """What Tune hands each trial driver: key, id, axes, resolved config, pretraining cache key."""
    code = code_fingerprint()
    digests = {root: {split: file_digest(path) for split, path in paths.items()} for root, paths in lists.items()}
    params = []
    for t in trials:
        config = t.config.model_dump(mode="json")
        params.append({
            "key": t.key, "trial_id": t.trial_id, "axes": t.axes, "config": config, "control": t.control,
            "pretrain_key": pretrain_cache.pretrain_key(config, spec.resources.workers_per_trial,
                                                        digests[t.config.data.root], code),
            "tokenizer_dir": tokenizers.get(t.key)})
    return params


def _tuner(spec: StudySpec, trials: list[Trial], trial_params: list[dict], context: StudyContext,
           execution: Execution, options: LaunchOptions):
    """A new Tuner over the trials, or the interrupted execution's restored."""
    from ray import tune

    from orchestrator.progress import ProgressPrinter
    param_space, search_alg, num_samples = search.tune_search(spec, trial_params)
    trainable = tune.with_resources(tune.with_parameters(run_trial, study=context),
                                    cluster.trial_driver_resources(spec.resources))
    if execution.resumed:
        # Tune's experiment state is a pickle: only ever restored from the study's own storage.
        return tune.Tuner.restore(execution.experiment_path, trainable, resume_unfinished=True,
                                  resume_errored=options.retry_failed, param_space=param_space)
    return tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(max_concurrent_trials=cluster.concurrent_trials(spec.resources),
                                    scheduler=search.scheduler(spec, trials), search_alg=search_alg,
                                    num_samples=num_samples,
                                    trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                                    # A trial Tune stops early (ASHA) still runs its
                                    # trainer: its actor cannot be reset within Tune's 2 s and the
                                    # study hung on the next trial.
                                    reuse_actors=spec.scheduler.kind == "fifo"),
        run_config=tune.RunConfig(name=execution.study_id, storage_path=execution.storage_path, verbose=0,
                                  callbacks=[ProgressPrinter(num_samples if search_alg else len(trials))],
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                                  # a worker group restarts itself; a trial run in its driver is
                                  # restarted by Tune from its last checkpoint
                                  failure_config=tune.FailureConfig(
                                      max_failures=spec.resources.max_failures if spec.resources.in_driver else 0)))


def _outcomes(grid) -> dict[str, tuple[bool, bool]]:
    """trial key → (ended without error, completed: has its test result), as Tune saw it."""
    return {r.config["trial"]["key"]: (r.error is None, r.error is None and TEST_TOP1 in (r.metrics or {}))
            for r in grid}


def _trial_name(trial) -> str:
    return trial.config["trial"]["key"]
