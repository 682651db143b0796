"""The baseline of benchmarks/orchestration.py: a study's trials run back to back by the
same trial loop in the processes torchrun starts — DDP as in a trial, but no Ray cluster,
no Tune and no MLflow (Ray Train's local mode only supplies `ray.train.report`).

    torchrun --nproc_per_node 2 --master_addr 127.0.0.1 benchmarks/plain_loops.py STUDY OUT.json"""
from __future__ import annotations

import json
import os
import sys
import time

from ray.train import ScalingConfig
from ray.train.torch import TorchTrainer

from orchestrator.launch import prepare_data
from orchestrator.study import expand_trials, load_study
from trainables.loops.trial import run_trial_worker


def main() -> None:
    study, out = sys.argv[1], sys.argv[2]
    spec = load_study(study)
    trials = expand_trials(spec, study)
    lists = prepare_data(trials)
    rank = int(os.environ.get("RANK", "0"))
    rows = []
    # One process group per trial, each on a TCP store of its own hosted by rank 0 (not
    # torchrun's agent store, whose keys from the previous trial's group hang the next one).
    os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "False"
    base_port = int(os.environ.get("MASTER_PORT", "29500"))
    for i, trial in enumerate(trials):
        os.environ["MASTER_PORT"] = str(base_port + 1 + i)
        started = time.perf_counter()
        result = TorchTrainer(
            run_trial_worker,
            train_loop_config={"trial": trial.config.model_dump(mode="json"), "run_id": None, "tracking_uri": None,
                               "cpus_per_worker": spec.resources.cpus_per_worker,
                               **{f"{s}_list": p for s, p in lists[trial.config.data.root].items()}},
            scaling_config=ScalingConfig(num_workers=0)).fit()
        metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))}
        rows.append({"trial": trial.key, "seconds": time.perf_counter() - started, "metrics": metrics})
    if rank == 0:
        with open(out, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
