"""The MLflow tracking server goes away in the middle of a study and comes back: every MLflow
call of the study (trial drivers, rank 0's metrics, the parent run) retries with back-off
(MLflow's client: 7 retries, factor 2, ≈ 4 minutes in all), so the study waits and finishes
as if nothing happened — every epoch logged once, every run FINISHED. A server that stays away
longer fails the trials that needed it; `maskray resume --retry-failed` finishes them."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ONE_WORKER, free_port, start_ui, stop_ui, two_trial_study, values_logged_twice

OUTAGE_S = 8
EPOCHS = 12


@pytest.mark.slow
def test_a_tracking_server_that_restarts_mid_study_loses_nothing(synth_root, tmp_path):
    from mlflow.tracking import MlflowClient
    server_root = tmp_path / "server"
    server_root.mkdir()
    port = free_port()
    server = start_ui(server_root, port)
    uri = f"http://127.0.0.1:{port}"
    study = tmp_path / "outage.yaml"
    study.write_text(two_trial_study("outage", synth_root, epochs=EPOCHS, resources=ONE_WORKER))
    exe = Path(sys.executable).parent / "maskray"
    proc = subprocess.Popen([str(exe), "run", str(study), "--tracking-uri", uri, "--num-cpus", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    client = MlflowClient(uri)
    try:
        deadline = time.time() + 600
        while True:   # until the first trial has logged an epoch: the study is mid-way
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no epoch logged in 10 minutes"
            exp = client.get_experiment_by_name("outage")
            runs = client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'") if exp else []
            if any(client.get_metric_history(r.info.run_id, "finetune/top1") for r in runs):
                break
            time.sleep(0.3)
        stop_ui(server)
        time.sleep(OUTAGE_S)
        assert proc.poll() is None                     # the study waits for its server
        server = start_ui(server_root, port)
        out = proc.communicate(timeout=600)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop_ui(server)
    server = start_ui(server_root, port)   # read back what the study left
    try:
        assert proc.returncode == 0, out[-4000:]
        exp = client.get_experiment_by_name("outage")
        runs = client.search_runs([exp.experiment_id])
        assert {r.data.tags["maskray.role"] for r in runs} == {"study", "trial"} and len(runs) == 3
        assert all(r.info.status == "FINISHED" for r in runs)
        for run in (r for r in runs if r.data.tags["maskray.role"] == "trial"):
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "finetune/top1"))
            assert steps == list(range(1, EPOCHS + 1))
            assert values_logged_twice(client, run) == []
    finally:
        stop_ui(server)
