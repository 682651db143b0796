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
EXE = Path(sys.executable).parent / "maskray"


class StudyOnServer:
    """A two-trial study run by `maskray run` against its own `maskray ui` server on loopback."""

    def __init__(self, name: str, synth_root: Path, tmp_path: Path, env: dict | None = None):
        from mlflow.tracking import MlflowClient
        self.name, self.root, self.port = name, tmp_path / "server", free_port()
        self.root.mkdir()
        self.server = start_ui(self.root, self.port)
        self.uri = f"http://127.0.0.1:{self.port}"
        self.study = tmp_path / f"{name}.yaml"
        self.study.write_text(two_trial_study(name, synth_root, epochs=EPOCHS, resources=ONE_WORKER))
        self.proc = subprocess.Popen([str(EXE), "run", str(self.study), "--tracking-uri", self.uri, "--num-cpus", "2"],
                                     cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)
        self.client = MlflowClient(self.uri)

    def wait_for_first_epoch(self) -> None:
        """Until a trial has logged an epoch: the study is mid-way."""
        deadline = time.time() + 600
        while True:
            assert self.proc.poll() is None, self.proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no epoch logged in 10 minutes"
            exp = self.client.get_experiment_by_name(self.name)
            runs = self.client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'") if exp else []
            if any(self.client.get_metric_history(r.info.run_id, "finetune/top1") for r in runs):
                return
            time.sleep(0.3)

    def runs(self) -> list:
        return self.client.search_runs([self.client.get_experiment_by_name(self.name).experiment_id])

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        stop_ui(self.server)


@pytest.mark.slow
def test_a_tracking_server_that_restarts_mid_study_loses_nothing(synth_root, tmp_path):
    study = StudyOnServer("outage", synth_root, tmp_path)
    try:
        study.wait_for_first_epoch()
        stop_ui(study.server)
        time.sleep(OUTAGE_S)
        assert study.proc.poll() is None                     # the study waits for its server
        study.server = start_ui(study.root, study.port)
        out = study.proc.communicate(timeout=600)[0].decode()
        assert study.proc.returncode == 0, out[-4000:]
        runs = study.runs()
        assert {r.data.tags["maskray.role"] for r in runs} == {"study", "trial"} and len(runs) == 3
        assert all(r.info.status == "FINISHED" for r in runs)
        for run in (r for r in runs if r.data.tags["maskray.role"] == "trial"):
            steps = sorted(m.step for m in study.client.get_metric_history(run.info.run_id, "finetune/top1"))
            assert steps == list(range(1, EPOCHS + 1))
            assert values_logged_twice(study.client, run) == []
    finally:
        study.close()


@pytest.mark.slow
@pytest.mark.faults   # ≈ 1 min more than the suite's budget allows: `pytest -m faults`
def test_a_tracking_server_that_stays_away_fails_clearly_and_resume_finishes(synth_root, tmp_path):
    """No retries left (MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 stands for minutes of outage): the
    study stops with one clear error naming the server and the resume command, its local Ray
    gone; with the server back, `maskray resume --retry-failed` finishes every trial."""
    study = StudyOnServer("away", synth_root, tmp_path, env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    try:
        study.wait_for_first_epoch()
        stop_ui(study.server)
        out = study.proc.communicate(timeout=300)[0].decode()
        assert study.proc.returncode == 1, out[-3000:]
        assert f"the MLflow tracking server {study.uri} stopped answering" in out and "--retry-failed" in out
        assert "Traceback (most recent call last)" not in out.split("stopped answering")[-1]
        study.server = start_ui(study.root, study.port)
        resumed = subprocess.run([str(EXE), "resume", str(study.study), "--retry-failed", "--tracking-uri", study.uri,
                                  "--num-cpus", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        runs = study.runs()
        assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    finally:
        study.close()
