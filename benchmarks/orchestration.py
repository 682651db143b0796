"""Orchestration overhead: a study of N trials through maskray (Ray Tune + Ray Train + MLflow)
against the same trial loop called back to back in plain processes (torchrun, the same 2
DDP workers; benchmarks/plain_loops.py). Goal: total overhead ≤ 10 % for trials of ~60 s.

    python benchmarks/orchestration.py [--trials 3] [--finetune-epochs 6]"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from study_timing import laptop_study, make_dataset, run_maskray, trial_runs

from trainables.tracking import TEST_TOP1

GOAL = 0.10



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--finetune-epochs", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = make_dataset(tmp / "data")
        study = tmp / "orchestration.yaml"
        study.write_text(laptop_study("orchestration", root, 40, 1, args.finetune_epochs,
                                      f"seeds: {list(range(args.trials))}\n"))
        started = time.perf_counter()
        plain = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                "--master_addr", "127.0.0.1", "--master_port", "29531",
                                str(Path(__file__).with_name("plain_loops.py")), str(study), str(tmp / "plain.json")],
                               capture_output=True, text=True, cwd=Path(__file__).parents[1])
        plain_s = time.perf_counter() - started
        if plain.returncode != 0:
            sys.exit(f"plain loops failed:\n{plain.stdout[-3000:]}\n{plain.stderr[-3000:]}")
        plain_rows = json.loads((tmp / "plain.json").read_text())
        maskray_s = run_maskray(study, tmp)
        runs = trial_runs(tmp, "orchestration")

    print(f"{args.trials} trials, 2 DDP workers each, nano ViT on synthetic-actions (1 pretrain + "
          f"{args.finetune_epochs} finetune epochs)")
    print("trial  plain_s  maskray_run_s  startup_s  plain_test_top1  maskray_test_top1")
    for p, m in zip(plain_rows, runs):
        print(f"{p['trial']:5s}  {p['seconds']:7.1f}  {m['seconds']:13.1f}  {m['startup_s']:9.1f}  "
              f"{p['metrics'].get(TEST_TOP1, float('nan')):15.1f}  "
              f"{m['metrics'].get(TEST_TOP1, float('nan')):17.1f}")
    print(f"plain loops total {plain_s:.0f} s (incl. torchrun start), maskray run total {maskray_s:.0f} s "
          f"(incl. Ray start, data checks, MLflow)")
    overhead = maskray_s / plain_s - 1
    print(f"RESULT orchestration_overhead ratio={overhead:.3f} goal<={GOAL} met={'yes' if overhead <= GOAL else 'no'}")


if __name__ == "__main__":
    main()
