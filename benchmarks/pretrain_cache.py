"""Pretrain cache: a study of 2 pretraining configs × 2 fine-tuning settings run with the
cache (each pretraining done once, its encoder reused by the other fine-tuning) and with
`--no-pretrain-cache` (every trial pretrains). Goal: ≥ 1.6× faster with identical results.

    python benchmarks/pretrain_cache.py [--pretrain-epochs 4] [--clips-per-class 20]"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from study_timing import laptop_study, make_dataset, run_maskray, trial_runs

from trainables.tracking import FINETUNE_LOSS, PRETRAIN_LOSS, PRETRAIN_REUSED_TAG, TEST_TOP1

GOAL = 1.6
SWEEP = """sweep:
  pretrain.masking.ratio: [0.75, 0.9]
  finetune.base_lr: [2.4e-2, 1.2e-2]
seeds: [0]
"""
COMPARED = (PRETRAIN_LOSS, FINETUNE_LOSS, "finetune/val_loss", TEST_TOP1, "finetune/test_loss")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--clips-per-class", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = make_dataset(tmp / "data", args.clips_per_class)
        seconds, runs = {}, {}
        for mode, extra in (("off", ("--no-pretrain-cache",)), ("on", ())):
            study = tmp / f"cache_{mode}.yaml"
            study.write_text(laptop_study(f"cache-{mode}", root, args.clips_per_class, args.pretrain_epochs, 2, SWEEP))
            seconds[mode], _ = run_maskray(study, tmp, *extra)
            runs[mode] = trial_runs(tmp, f"cache-{mode}")

    print(f"2 pretraining configs × 2 fine-tuning settings; {args.pretrain_epochs} pretrain + 2 finetune epochs")
    print("trial  cache_off_s  cache_on_s  reused_from  identical")
    identical = True
    for off, on in zip(runs["off"], runs["on"]):
        same = all(off["metrics"].get(k) == on["metrics"].get(k) for k in COMPARED)
        identical &= same
        source = on["tags"].get(PRETRAIN_REUSED_TAG, "-")[:8]
        print(f"{off['key']:5s}  {off['seconds']:11.1f}  {on['seconds']:10.1f}  {source:11s}  {same}")
    reused = sum(PRETRAIN_REUSED_TAG in r["tags"] for r in runs["on"])
    speedup = seconds["off"] / seconds["on"]
    print(f"study wall: cache off {seconds['off']:.0f} s, cache on {seconds['on']:.0f} s; {reused} of 4 trials "
          f"reused a pretraining; metrics {', '.join(COMPARED)} identical: {identical}")
    met = speedup >= GOAL and identical and reused == 2
    print(f"RESULT pretrain_cache_speedup ratio={speedup:.2f} goal>={GOAL} met={'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
