"""A trial's worker loop: pretraining, then fine-tuning, in one Ray Train worker group.

Both stages run in the same worker processes: on small machines each Ray Train run costs a
controller, its helper actors and a fresh set of worker processes (torch + timm imports),
which dwarfs a short stage. Every epoch of either stage is a checkpoint tagged with its
stage, so a restarted worker group resumes exactly where it stopped. A trial whose
pretraining another trial already did starts from that trial's published encoder."""
from __future__ import annotations

import time

import ray
import ray.train

from trainables.data.lists import read_list
from trainables.loops.finetune import finetune
from trainables.loops.pretrain import pretrain
from trainables.loops.pretrain_reuse import publish, reuse
from trainables.loops.worker import (TrialDataError, Worker, all_gather_lists, load_state, log_checkpointed_epoch,
                                     report, seed_worker, start_worker)

DATA_ERROR = "data_error"


def trial_loop(loop_config: dict) -> None:
    from orchestrator.spec import TrialConfig  # plain pydantic; the config is re-validated here
    cfg = TrialConfig.model_validate(loop_config["trial"])
    w = start_worker(loop_config, loop_config["cpus_per_worker"], cfg.seed, cfg.model.precision)
    try:
        run_stages(cfg, loop_config, w)
    except TrialDataError as e:
        # Reported instead of raised: Ray Train would restart the worker group to hit it
        # again. With a checkpoint, because a Train run's result carries the metrics of its
        # latest checkpoint: that is how the trial driver sees the error.
        report({"stage": "failed", "epoch": 0, DATA_ERROR: str(e)}, {"stage": "failed", DATA_ERROR: str(e)}, w)


def run_stages(cfg, loop_config: dict, w: Worker) -> None:
    splits = {s: read_list(loop_config[f"{s}_list"], cfg.data.classes) for s in ("train", "val", "test")}
    state = load_state(ray.train.get_checkpoint())
    log_checkpointed_epoch(state, w)
    # which node each rank runs on (a restarted worker group may land elsewhere)
    nodes = all_gather_lists([ray.get_runtime_context().get_node_id()], w)
    if w.is_main:
        w.log.tag("maskray.worker_nodes", ",".join(nodes))
    if state is not None and state["stage"] == "failed":
        raise TrialDataError(state[DATA_ERROR])
    if w.is_main and state is None and "submitted_at" in loop_config:
        # Ray Train's start-up: controller and worker actors, imports, the process group
        w.log.metrics({"timing/worker_group_start_s": time.time() - loop_config["submitted_at"]}, step=0)
    tokenizer_dir = loop_config.get("tokenizer_dir")
    if w.is_main and state is None and tokenizer_dir:
        w.log.artifacts(tokenizer_dir, "tokenizer")
    pretrained = None
    if state is not None and state["stage"] == "pretrain_reused":
        pretrained, state = state["pretrained"], None
    elif cfg.pretrain.enabled and (state is None or state["stage"] == "pretrain"):
        if "pretrained_run" in loop_config:
            pretrained = reuse(cfg, splits, w, loop_config["tracking_uri"], loop_config["pretrained_run"],
                               loop_config["pretrained_by"])
        else:
            pretrained, record = pretrain(cfg, splits, w, state, tokenizer_dir)
            if "pretrain_key" in loop_config:
                publish(pretrained, record, w)
        state = None
    # Fine-tuning draws from its own seed: the same from a fresh or a reused encoder.
    seed_worker(cfg.seed + 1, w.rank)
    finetune(cfg, splits, w, state, pretrained, tokenizer_dir)
