#!/usr/bin/env bash
# The README's screenshots, taken in headless Chromium from a finished study: the MLflow UI,
# and the study's report where `maskray report` wrote one (STUDY_DIR/reports/EXPERIMENT/).
#   scripts/readme_screenshots.sh STUDY_DIR [EXPERIMENT] [STRATEGY]
# STUDY_DIR holds the study's mlflow.db and mlartifacts/ (where `maskray run` ran). The MLflow
# pages need clicks: Playwright (installed into .venv on first use) drives the system's Chromium.
set -euo pipefail
store=$(cd "$1" && pwd); experiment=${2:-masking_strategy}; strategy=${3:-tube}
out=$(cd "$(dirname "$0")/.." && pwd)/docs
port=5077
browser=$(command -v chromium || command -v chromium-browser)
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars --virtual-time-budget=20000)
.venv/bin/maskray ui --tracking-uri "sqlite:///$store/mlflow.db" --artifacts-destination "$store/mlartifacts" \
    --port $port > /dev/null 2>&1 &
ui=$!
trap 'kill $ui' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 1; done
api="http://127.0.0.1:$port/api/2.0/mlflow"
exp=$(curl -s "$api/experiments/get-by-name?experiment_name=$experiment" | python3 -c "import sys, json; print(json.load(sys.stdin)['experiment']['experiment_id'])")
quote() { python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))" "$1"; }
filter=$(quote "params.\`pretrain.masking.strategy\` = '$strategy'")
.venv/bin/python -c "import playwright" 2>/dev/null || .venv/bin/pip install -q -c .venv/maskray-torch-pin.txt playwright
# the page `maskray ui` and `maskray run` print for the study (Model training view, runs table)
.venv/bin/python scripts/mlflow_screenshots.py runs "http://127.0.0.1:$port/#/experiments/$exp?workflowType=machine_learning" \
    "$out/mlflow_study_runs.png"
.venv/bin/python scripts/mlflow_screenshots.py runs \
    "http://127.0.0.1:$port/#/experiments/$exp/runs?searchFilter=$filter&workflowType=machine_learning" \
    "$out/mlflow_runs_filtered.png"
runs=$(curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"experiment_ids\": [\"$exp\"], \"filter\": \"tags.\`maskray.role\` = 'trial'\", \"max_results\": 50}" \
    "$api/runs/search" | python3 -c "import sys, json; print(json.dumps([r['info']['run_id'] for r in json.load(sys.stdin)['runs']]))")
.venv/bin/python scripts/mlflow_screenshots.py compare \
    "http://127.0.0.1:$port/#/compare-runs?runs=$(quote "$runs")&experiments=$(quote "[\"$exp\"]")" \
    "$out/mlflow_compare_parallel.png"
# one trial's reconstruction picture, as logged (artifact reconstructions/pretrain_reconstruction.png)
first=$(curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"experiment_ids\": [\"$exp\"], \"filter\": \"tags.\`maskray.arm\` = 'pretrained'\", \"max_results\": 1, \"order_by\": [\"tags.\`maskray.trial_key\` ASC\"]}" \
    "$api/runs/search" | python3 -c "import sys, json; print(json.load(sys.stdin)['runs'][0]['info']['run_id'])")
curl -sf "http://127.0.0.1:$port/get-artifact?path=reconstructions/pretrain_reconstruction.png&run_uuid=$first" \
    -o "$out/reconstruction_$experiment.png" || echo "no reconstruction picture in run $first"
report="$store/reports/$experiment/report.html"
if [ -f "$report" ]; then
  "$browser" "${flags[@]}" --window-size=1300,2200 --screenshot="$out/report_$experiment.png" "file://$report"
fi
