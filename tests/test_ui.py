"""`maskray ui` serves the study's MLflow store (UI and REST API) on 127.0.0.1 only."""
import json
import shutil
import subprocess
import urllib.request


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
