"""A trial's worker loop: pretraining, then fine-tuning, in one Ray Train worker group.

Both stages run in the same worker processes: on small machines each Ray Train run costs a
controller, its helper actors and a fresh set of worker processes (torch + timm imports),
which dwarfs a short stage. Every epoch of either stage is a checkpoint tagged with its
stage, so a restarted worker group resumes exactly where it stopped."""
from __future__ import annotations

import ray.train

from trainables.data.lists import read_list
from trainables.loops.finetune import finetune
from trainables.loops.pretrain import pretrain
from trainables.loops.worker import load_state, start_worker


def trial_loop(loop_config: dict) -> None:
    from orchestrator.spec import TrialConfig  # plain pydantic; the config is re-validated here
    cfg = TrialConfig.model_validate(loop_config["trial"])
    w = start_worker(loop_config, loop_config["cpus_per_worker"], cfg.seed)
    splits = {s: read_list(loop_config[f"{s}_list"], cfg.data.classes) for s in ("train", "val", "test")}
    state = load_state(ray.train.get_checkpoint())
    encoder = None
    if cfg.pretrain.enabled and (state is None or state["stage"] == "pretrain"):
        encoder = pretrain(cfg, splits, w, state)
        state = None
    finetune(cfg, splits, w, state, encoder)
