"""A trial on its workers: pretraining, then fine-tuning, in the same processes — a Ray
Train worker group, or for a one-worker trial its Tune trial driver (trainables/loops/session.py).

Both stages share one worker group: on small machines each Ray Train run costs a controller,
its helper actors and a fresh set of worker processes (torch + timm imports), which dwarfs a
short stage. Every epoch of either stage is a checkpoint tagged with its `Stage`, so a
restarted worker group resumes exactly where it stopped:

    no checkpoint ─► pretrain (or replay a published one: PRETRAIN_REUSED) ─► finetune
    Stage.PRETRAIN ─► resume pretraining      Stage.PRETRAIN_REUSED ─► finetune from its weights
    Stage.FINETUNE ─► resume fine-tuning      Stage.FAILED ─► fail again, without training

A `TrialFailure` (bad data, a diverged loss) is reported instead of raised: Ray Train would
restart the worker group only to hit it again. It goes out with a checkpoint, because a Train
run's result carries the metrics of its latest checkpoint: that is how the trial driver
(orchestrator/trial_driver.py) sees it and fails the trial with its message (a trial run in
its driver gets the message back from `run_trial_worker`).

The heavy imports are inside the functions: the trial driver references `run_trial_worker`
without importing torch and timm itself."""
from __future__ import annotations

import time

from trainables.tracking import TRIAL_ERROR, WORKER_GROUP_START, WORKER_NODES_TAG, Stage


def run_trial_worker(loop_config: dict, session=None) -> str | None:
    """The trial's loop on one worker: Ray Train's train function on every worker of a worker
    group (`session` None), or the whole trial in its driver (a `DriverSession`).
    → the message of the `TrialFailure` that ended it, or None."""
    from trainables.config import TrialConfig
    from trainables.loops.session import TrainSession
    from trainables.loops.worker import TrialFailure, report, start_worker

    cfg = TrialConfig.model_validate(loop_config["trial"])
    w = start_worker(loop_config, loop_config["cpus_per_worker"], cfg.seed, cfg.model.precision,
                     session or TrainSession())
    try:
        run_stages(cfg, loop_config, w)
    except TrialFailure as e:
        failed = {"stage": Stage.FAILED.value, TRIAL_ERROR: str(e)}
        report({**failed, "epoch": 0}, failed, w)
        return str(e)
    return None


def run_stages(cfg, loop_config: dict, w) -> None:
    import ray

    from trainables.data.lists import read_list
    from trainables.loops import pretrain_cache
    from trainables.loops.finetune import finetune
    from trainables.loops.pretrain import pretrain
    from trainables.loops.worker import (TrialFailure, all_gather_lists, load_state, log_checkpointed_epoch,
                                         seed_worker)

    splits = {s: read_list(loop_config[f"{s}_list"], cfg.data.classes) for s in ("train", "val", "test")}
    state = load_state(w.session.checkpoint())
    log_checkpointed_epoch(state, w)
    w.timeline.mark("worker_ready")
    # which node each rank runs on (a restarted worker group may land elsewhere)
    nodes = all_gather_lists([ray.get_runtime_context().get_node_id()], w)
    if w.is_main:
        w.log.tag(WORKER_NODES_TAG, ",".join(nodes))
    stage = Stage(state["stage"]) if state is not None else None
    if stage is Stage.FAILED:
        raise TrialFailure(state[TRIAL_ERROR])
    if w.is_main and state is None and "submitted_at" in loop_config:
        # Ray Train's start-up: controller and worker actors, imports, the process group
        w.log.metrics({WORKER_GROUP_START: time.time() - loop_config["submitted_at"]}, step=0)
    tokenizer_dir = loop_config.get("tokenizer_dir")
    if w.is_main and state is None and tokenizer_dir:
        w.log.artifacts(tokenizer_dir, "tokenizer")
    pretrained = None
    if stage is Stage.PRETRAIN_REUSED:
        pretrained, state = state["pretrained"], None
    elif cfg.pretrain.enabled and stage in (None, Stage.PRETRAIN):
        if "pretrained_run" in loop_config:
            pretrained = pretrain_cache.reuse(cfg, splits, w, loop_config["tracking_uri"],
                                              loop_config["pretrained_run"], loop_config["pretrained_by"])
        else:
            pretrained, record = pretrain(cfg, splits, w, state, tokenizer_dir)
            if "pretrain_key" in loop_config:
                pretrain_cache.publish(pretrained, record, w)
        state = None
    # Fine-tuning draws from its own seed: the same from a fresh or a reused encoder.
    seed_worker(cfg.seed + 1, w.rank)
    finetune(cfg, splits, w, state, pretrained, tokenizer_dir)
    if w.is_main:
        w.log.metrics(w.timeline.metrics(), step=0)
