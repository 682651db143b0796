"""Orchestration overhead: a study of N trials through maskray (Ray Tune + Ray Train + MLflow)
against the same trial loop called back to back in plain processes (torchrun with as many
processes as a trial has workers; benchmarks/plain_loops.py), in wall seconds and in CPU
seconds summed over every process each side starts; where each maskray trial's time went,
from its timeline (`timeline/*_s`); and the same trials run in several ways:

  2-group       2 DDP workers per trial on a Ray Train worker group, one trial at a time
  1-driver      1 worker per trial, run in its Tune trial driver (no worker group), one at a time
  1-group       1 worker per trial on a worker group (`resources.worker_group: always`): what
                1-driver removes
  1-driver-x2   1 worker per trial in its driver, two trials at a time
  2-group-before  2-group with the per-trial costs this benchmark's issue removed put back: Ray
                Train's 2-s worker poll, a Tune report queue actor per trial

Goals: fixed cost per trial ≤ 8 s (2 workers) and ≤ 4 s (1 worker) on a fast day; study
overhead ≤ 10 % at 60-s trials (derived: fixed cost / 60 s); the same test top-1 as the plain
loops, trial by trial.

    python benchmarks/orchestration.py [--trials 3] [--finetune-epochs 6] [--variants 2-group,1-driver,1-group]"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from statistics import mean

from study_timing import laptop_study, make_dataset, run_maskray, timed, trial_runs

from dashboards.timeline import PHASES, events, phase_seconds
from trainables.tracking import TEST_TOP1

GOALS = {1: 4.0, 2: 8.0}        # fixed seconds per trial
OVERHEAD_GOAL = 0.10            # at 60-s trials
TWO = "{workers_per_trial: 2, cpus_per_worker: 0.99, max_concurrent_trials: 1}"
VARIANTS = {                    # name → (workers, resources, environment)
    "2-group": (2, TWO, {}),
    "2-group-before": (2, TWO, {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "2.0", "MASKRAY_FRESH_REPORT_QUEUE": "1"}),
    "1-driver": (1, "{workers_per_trial: 1, cpus_per_worker: 0.99, max_concurrent_trials: 1}", {}),
    "1-group": (1, "{workers_per_trial: 1, cpus_per_worker: 0.99, max_concurrent_trials: 1, worker_group: always}", {}),
    "1-driver-x2": (1, "{workers_per_trial: 1, cpus_per_worker: 0.99, max_concurrent_trials: 2}", {}),
}
def plain_loops(study: Path, workers: int, tmp: Path) -> tuple[float, float, list[dict]]:
    out_json = tmp / f"plain{workers}.json"
    wall, cpu, out = timed([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(workers),
                            "--master_addr", "127.0.0.1", "--master_port", str(29531 + 40 * workers),
                            str(Path(__file__).with_name("plain_loops.py")), str(study), str(out_json)],
                           Path(__file__).parents[1])
    if out.returncode != 0:
        sys.exit(f"plain loops failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, cpu, json.loads(out_json.read_text())


def report_variant(name: str, workers: int, wall: float, cpu: float, runs: list[dict],
                   plain: tuple[float, float, list[dict]]) -> None:
    plain_wall, plain_cpu, plain_rows = plain
    print(f"\n== {name}: maskray run {wall:.0f} s wall, {cpu:.0f} CPU-s; plain loops ({workers} process"
          f"{'es' if workers > 1 else ''}) {plain_wall:.0f} s wall, {plain_cpu:.0f} CPU-s "
          f"→ overhead {wall / plain_wall - 1:+.0%} wall, {cpu / plain_cpu - 1:+.0%} CPU")
    print("trial  plain_s  maskray_s  fixed_s  plain_top1  maskray_top1")
    fixed = {}
    for p, m in zip(plain_rows, runs):
        total = events(m["metrics"]).get("run_closed", m["seconds"])
        fixed[m["key"]] = total - p["seconds"]
        print(f"{m['key']:5s}  {p['seconds']:7.1f}  {total:9.1f}  {fixed[m['key']]:7.1f}  "
              f"{p['metrics'].get(TEST_TOP1, float('nan')):10.1f}  {m['metrics'].get(TEST_TOP1, float('nan')):12.1f}")
    print("where a maskray trial's time went (s; mean over trials after the first, then the first):")
    later = runs[1:] or runs
    for label, _, _ in PHASES:
        spans = [s for s in (phase_seconds(r["metrics"])[label] for r in later) if not math.isnan(s)]
        first = phase_seconds(runs[0]["metrics"])[label]
        print(f"  {label:42s} {mean(spans) if spans else math.nan:6.2f}   first {first:6.2f}")
    between = wall - sum(events(r["metrics"]).get("run_closed", r["seconds"]) for r in runs)
    print(f"  {'outside trials: Ray start, data checks, Tune':42s} {between:6.2f} (whole study)")
    same = all(abs(p["metrics"].get(TEST_TOP1, -1) - m["metrics"].get(TEST_TOP1, -2)) < 1e-6
               for p, m in zip(plain_rows, runs))
    steady = mean(fixed[r["key"]] for r in later)
    goal = GOALS[workers]
    print(f"RESULT {name}_fixed_cost_per_trial_s value={steady:.2f} goal<={goal} met={'yes' if steady <= goal else 'no'}")
    print(f"RESULT {name}_overhead_at_60s_trials ratio={steady / 60:.3f} goal<={OVERHEAD_GOAL} "
          f"met={'yes' if steady / 60 <= OVERHEAD_GOAL else 'no'} (derived: fixed cost / 60 s)")
    print(f"RESULT {name}_same_test_top1_as_plain value={'yes' if same else 'no'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--finetune-epochs", type=int, default=6)
    ap.add_argument("--variants", default="2-group,2-group-before,1-driver,1-group")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    print(f"{args.trials} trials (seeds), nano ViT on synthetic-actions, 1 pretraining + "
          f"{args.finetune_epochs} fine-tuning epochs each")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = make_dataset(tmp / "data")
        plain = {}
        for name in names:
            workers, resources, env = VARIANTS[name]
            study = tmp / f"{name}.yaml"
            experiment = f"orchestration-{name}"
            study.write_text(laptop_study(experiment, root, 40, 1, args.finetune_epochs,
                                          f"seeds: {list(range(args.trials))}\n", resources))
            if workers not in plain:
                plain[workers] = plain_loops(study, workers, tmp)
            wall, cpu = run_maskray(study, tmp, env=env)
            report_variant(name, workers, wall, cpu, trial_runs(tmp, experiment), plain[workers])


if __name__ == "__main__":
    main()
