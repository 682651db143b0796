"""`maskray ui` serves the study's MLflow store on 127.0.0.1 only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_runs_on_loopback(tmp_path):
    from mlflow.tracking import MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("ui-study")
    parent = client.create_run(exp, tags={"maskray.role": "study"})
    client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id, "maskray.role": "trial"})

    port = free_port()
    exe = Path(sys.executable).parent / "maskray"
    proc = subprocess.Popen([str(exe), "ui", "--tracking-uri", uri, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                assert time.time() < deadline, "MLflow UI did not answer within 90 s"
                time.sleep(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": [exp]}).encode(), headers={"Content-Type": "application/json"})
        runs = json.load(urllib.request.urlopen(request, timeout=10))["runs"]
        assert len(runs) == 2
        # bound to loopback only: the listening socket is 127.0.0.1, not 0.0.0.0
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                   text=True).stdout if shutil.which("ss") else ""
        for line in listening.splitlines():
            local_address = line.split()[3]        # State Recv-Q Send-Q Local Peer
            assert local_address == f"127.0.0.1:{port}", line
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
