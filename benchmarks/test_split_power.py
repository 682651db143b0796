"""How many test clips (and seeds) does a study need to resolve a given difference between two
arms? A power calculation from a finished study's own paired predictions.

For each arm against the from-scratch control, on their common seeds and clips, it measures
- ψ, the discordant fraction: the share of (seed, clip) pairs that exactly one arm gets right
  (the per-clip variance of a paired difference is ψ − δ²), and
- the seed-to-seed variance of the per-seed Δ, less what clip sampling explains: the part that
  more test clips cannot remove (fine-tuning's own luck).
A two-level normal approximation then gives the clips per seed at which the paired 95 %
interval excludes 0 with 80 % power for a true difference of `--delta` points, at this
study's seed count and at more seeds, or says that no number of clips is enough.

    python benchmarks/test_split_power.py --store mlflow.db --study quickstart [--delta 5]"""
from __future__ import annotations

import argparse
import os

import numpy as np
from scipy.stats import norm

from dashboards.arms import load_arms
from dashboards.study_runs import load


def clips_needed(delta: float, psi: float, seed_var: float, seeds: int, alpha: float = 0.05,
                 power: float = 0.8) -> float:
    """Clips per seed for Var(Δ̂) = seed_var/S + (ψ − δ²)/(S·N) to reach (δ / (z_α/2 + z_β))²;
    inf where the seed term alone is too large. All in proportions (not points)."""
    budget = (delta / (norm.ppf(1 - alpha / 2) + norm.ppf(power))) ** 2 - seed_var / seeds
    return float("inf") if budget <= 0 else (psi - delta ** 2) / (seeds * budget)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="the study's SQLite MLflow store")
    ap.add_argument("--study", required=True)
    ap.add_argument("--delta", type=float, default=5.0, help="the difference to resolve, points of top-1")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    runs = load(f"sqlite:///{args.store}", args.study, with_histories=False)
    arms = load_arms(f"sqlite:///{args.store}", runs.trials, runs.axes)
    control = next((a for a in arms if a.control), None)
    if control is None:
        raise SystemExit(f"study {args.study!r} has no from-scratch control arm to pair with")
    delta = args.delta / 100
    print(f"study {args.study}: resolving Δ = {args.delta:g} points with 80 % power (paired 95 % interval)")
    print(f"{'arm':34s} seeds clips   ψ     seed SD   clips/seed needed at 3 / 5 / 10 / 20 seeds")
    for arm in arms:
        if arm.control:
            continue
        seeds = sorted(set(arm.correct) & set(control.correct))
        clips = control.correct[seeds[0]].index
        for s in seeds:
            clips = clips.intersection(arm.correct[s].index).intersection(control.correct[s].index)
        d = np.stack([arm.correct[s].loc[clips].to_numpy() - control.correct[s].loc[clips].to_numpy()
                      for s in seeds]).astype(float)
        psi = float(np.abs(d).mean())
        per_seed = d.mean(axis=1)
        clip_var = (psi - per_seed.mean() ** 2) / len(clips)
        seed_var = max(0.0, float(np.var(per_seed, ddof=1)) - clip_var) if len(seeds) > 1 else 0.0
        needed = [clips_needed(delta, psi, seed_var, n) for n in (3, 5, 10, 20)]
        cells = " / ".join("never" if np.isinf(n) else f"{int(np.ceil(n))}" for n in needed)
        print(f"{arm.label():34s} {len(seeds):5d} {len(clips):5d} {psi:5.2f} {100 * seed_var ** 0.5:7.1f} pts  {cells}")


if __name__ == "__main__":
    main()
