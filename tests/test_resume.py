"""Faults: the driver of a running study is killed (its whole process group: the local Ray
goes with it); `maskray resume` finishes the study — the finished trial is not rerun, the
interrupted one goes on from its last checkpoint, in the same MLflow runs, no step twice.

Both ways a trial runs: on a Ray Train worker group (its checkpoints are Train's; minutes of
real Ray on a 2-core machine: `pytest -m faults`), and one-worker trials in their Tune trial
drivers (their checkpoints are Tune's; in the suite)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ONE_AT_A_TIME, ONE_WORKER, maskray, two_trial_study, values_logged_twice


def history(client, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def trial_runs(client):
    exp = client.get_experiment_by_name("resume")
    if exp is None:
        return {}
    runs = client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'")
    return {r.data.tags["maskray.trial_key"]: r for r in runs}


def kill_session(proc: subprocess.Popen, sid: int) -> None:
    """SIGKILL to the driver's process group, then to any process of its session `sid` that
    left the group (Ray's own daemons): all of them started by this test."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def session_processes(sid: int) -> list[int]:
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            if os.getsid(pid) == sid:
                found.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return found


def stop_gracefully(proc: subprocess.Popen, sid: int, client) -> None:
    """SIGTERM to the driver alone, as a scheduler sends it: the study must end by itself —
    exit 130 with how to resume, its runs KILLED with the reason, its local Ray gone."""
    os.kill(proc.pid, signal.SIGTERM)
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, out[-3000:]
    assert "maskray resume" in out and "Traceback" not in out, out[-3000:]
    runs = trial_runs(client)
    assert runs["t001"].info.status == "KILLED"
    assert "interrupted" in runs["t001"].data.tags["maskray.end_reason"]
    parent = client.search_runs([client.get_experiment_by_name("resume").experiment_id],
                                "tags.`maskray.role` = 'study'")[0]
    assert parent.info.status == "KILLED" and "t001" in parent.data.tags["maskray.end_reason"]
    deadline = time.time() + 20   # Ray's daemons end a moment after its shutdown returns
    while session_processes(sid) and time.time() < deadline:
        time.sleep(0.5)
    assert session_processes(sid) == []


@pytest.mark.slow
@pytest.mark.parametrize("resources,epochs,stop", [
    pytest.param(ONE_AT_A_TIME, 3, "SIGKILL", marks=pytest.mark.faults, id="worker-group"),
    pytest.param(ONE_WORKER, 40, "SIGKILL", id="in-driver"),
    pytest.param(ONE_WORKER, 40, "SIGTERM", id="in-driver-sigterm")])
def test_killed_driver_then_resume_finishes_without_duplicates(synth_root, tmp_path, resources, epochs, stop):
    from mlflow.tracking import MlflowClient
    study = tmp_path / "resume.yaml"
    study.write_text(two_trial_study("resume", synth_root, epochs=epochs, resources=resources))
    exe = Path(sys.executable).parent / "maskray"
    proc = subprocess.Popen([str(exe), "run", str(study), "--num-cpus", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    sid = os.getsid(proc.pid)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    deadline = time.time() + 900
    try:
        while True:   # until t000 has finished and t001 has finished its first epoch
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "the study did not reach t001's first epoch in 15 minutes"
            runs = trial_runs(client) if (tmp_path / "mlflow.db").exists() else {}
            if "t001" in runs and runs["t000"].info.status == "FINISHED" and \
                    history(client, runs["t001"].info.run_id, "finetune/top1"):
                break
            time.sleep(0.2)
        if stop == "SIGTERM":
            stop_gracefully(proc, sid, client)
    finally:
        kill_session(proc, sid)
    before = trial_runs(client)
    assert before["t001"].info.status == ("RUNNING" if stop == "SIGKILL" else "KILLED")
    assert len(history(client, before["t001"].info.run_id, "finetune/top1")) < epochs   # killed mid-trial
    t000_end = before["t000"].info.end_time

    out = maskray("resume", str(study), "--num-cpus", "2", cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    resumed = out.stdout.split("(resumed)")[1].split("\n\ntrial")[0]
    assert not re.search(r"t000 \[.*\] (pretrain|finetune) epoch", resumed)   # the finished trial did not train

    after = trial_runs(client)
    assert set(after) == {"t000", "t001"}                       # one MLflow run per trial, reattached
    assert {r.info.run_id for r in after.values()} == {r.info.run_id for r in before.values()}
    assert all(r.info.status == "FINISHED" for r in after.values())
    assert after["t000"].info.end_time == t000_end              # the finished trial was not rerun
    for run in after.values():
        assert history(client, run.info.run_id, "finetune/top1") == list(range(1, epochs + 1))   # each epoch once
        assert values_logged_twice(client, run) == []                        # every metric once a step
    parents = client.search_runs([client.get_experiment_by_name("resume").experiment_id],
                                 "tags.`maskray.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


def test_resume_refuses_a_changed_study(synth_root, tmp_path):
    """An execution is only continued by the study that started it."""
    from mlflow.tracking import MlflowClient

    from trainables import tracking
    study = tmp_path / "resume.yaml"
    study.write_text(two_trial_study("resume", synth_root))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp = tracking.ensure_experiment(uri, "resume", None)
    parent = tracking.parent_run(uri, exp, "resume-20261125-000000", "resume-20261125-000000", {})
    MlflowClient(uri).set_tag(parent, "maskray.study_hash", "0123456789abcdef")
    MlflowClient(uri).set_tag(parent, "maskray.storage", str(tmp_path / "maskray_results"))
    out = maskray("resume", str(study), cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert "no longer gives the trials of execution resume-20261125-000000" in out.stderr
