#!/usr/bin/env bash
# The papers' directions at laptop scale: runs each seed study one after the other in this
# checkout (MLflow store ./mlflow.db), writes its report, and prints each study's wall time
# and its paired comparisons (reports/<study>/paired.csv).
#
#   bash benchmarks/paper_studies.sh [study ...]     (default: all six)
set -euo pipefail
cd "$(dirname "$0")/.."
studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(mask_ratio masking_strategy mgm decoder_targets mar_efficiency evad_dropout)
for s in "${studies[@]}"; do
  start=$(date +%s)
  .venv/bin/maskray run "studies/$s.yaml" --num-cpus 2
  echo "RESULT study=$s wall_s=$(( $(date +%s) - start )) commit=$(git rev-parse --short HEAD) date=$(date -u +%F)"
  .venv/bin/maskray report "studies/$s.yaml" >/dev/null
  cat "reports/$s/paired.csv"
done
