"""`maskray ui` serves the study's MLflow store (UI and REST API) on 127.0.0.1 only."""
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import chromium_dom, free_port, needs_chromium


def test_ui_serves_runs_on_loopback(mlflow_ui):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(mlflow_ui.store_uri)      # written straight to the store the UI serves
    exp = client.create_experiment("ui-study")
    parent = client.create_run(exp, tags={"maskray.role": "study"})
    client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id, "maskray.role": "trial"})

    request = urllib.request.Request(
        f"{mlflow_ui.url}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [exp]}).encode(), headers={"Content-Type": "application/json"})
    runs = json.load(urllib.request.urlopen(request, timeout=10))["runs"]
    assert len(runs) == 2
    # bound to loopback only: the listening socket is 127.0.0.1, not 0.0.0.0
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{mlflow_ui.port}"], capture_output=True,
                               text=True).stdout if shutil.which("ss") else ""
    for line in listening.splitlines():
        local_address = line.split()[3]        # State Recv-Q Send-Q Local Peer
        assert local_address == f"127.0.0.1:{mlflow_ui.port}", line


@needs_chromium
def test_the_study_page_opens_on_its_runs_table(mlflow_ui, tmp_path):
    """The URL `maskray ui` prints for a study opens MLflow's UI on Model training, on the runs
    table with the study's parent and its trials (without the query parameter MLflow 3 opens
    the GenAI overview: traces, token usage)."""
    from trainables import tracking
    uri = mlflow_ui.store_uri
    experiment = tracking.ensure_experiment(uri, "ui-runs-table", None)
    parent = tracking.parent_run(uri, experiment, "ui-runs-table-1", "ui-runs-table-1", {"study.name": "x"})
    for k in range(3):
        tracking.child_run(uri, experiment, parent, "ui-runs-table-1", f"id{k}", f"t00{k} ratio=0.9 seed={k}",
                           {"seed": k}, {tracking.TRIAL_KEY_TAG: f"t00{k}"})
    assert tracking.client(uri).get_experiment(experiment).tags[tracking.EXPERIMENT_KIND_TAG] == \
        "custom_model_development"

    port = free_port()   # a second `maskray ui` on the same store: what it prints first
    ui = subprocess.Popen([str(Path(sys.executable).parent / "maskray"), "ui", "--tracking-uri", uri, "--port",
                           str(port)], cwd=tmp_path, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        printed = [ui.stdout.readline().strip() for _ in range(2)]
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    assert printed[1] == f"study ui-runs-table: {tracking.ui_url(f'http://127.0.0.1:{port}', experiment)}"

    url = tracking.ui_url(mlflow_ui.url, experiment)

    dom = chromium_dom(url, budget_ms=20000)
    assert "ui-runs-table-1" in dom and re.search(r"4\s*</?[^>]*>?\s*matching runs|4 matching runs", dom), dom[-3000:]
    assert "Token Usage" not in dom and "Detect Issues" not in dom
