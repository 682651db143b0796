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


@pytest.mark.slow
def test_a_tracking_server_that_stays_away_fails_clearly_and_resume_finishes(synth_root, tmp_path):
    """No retries left (MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 stands for minutes of outage): the
    study stops with one clear error naming the server and the resume command, its local Ray
    gone; with the server back, `maskray resume --retry-failed` finishes every trial."""
    from mlflow.tracking import MlflowClient
    server_root = tmp_path / "server"
    server_root.mkdir()
    port = free_port()
    server = start_ui(server_root, port)
    uri = f"http://127.0.0.1:{port}"
    study = tmp_path / "away.yaml"
    study.write_text(two_trial_study("away", synth_root, epochs=EPOCHS, resources=ONE_WORKER))
    exe = Path(sys.executable).parent / "maskray"
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    proc = subprocess.Popen([str(exe), "run", str(study), "--tracking-uri", uri, "--num-cpus", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    client = MlflowClient(uri)
    try:
        deadline = time.time() + 600
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no epoch logged in 10 minutes"
            exp = client.get_experiment_by_name("away")
            runs = client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'") if exp else []
            if any(client.get_metric_history(r.info.run_id, "finetune/top1") for r in runs):
                break
            time.sleep(0.3)
        stop_ui(server)
        out = proc.communicate(timeout=300)[0].decode()
        assert proc.returncode == 1, out[-3000:]
        assert f"the MLflow tracking server {uri} stopped answering" in out and "--retry-failed" in out
        assert "Traceback (most recent call last)" not in out.split("stopped answering")[-1]
        server = start_ui(server_root, port)
        resumed = subprocess.run([str(exe), "resume", str(study), "--retry-failed", "--tracking-uri", uri,
                                  "--num-cpus", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        exp = client.get_experiment_by_name("away")
        runs = client.search_runs([exp.experiment_id])
        assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop_ui(server)
