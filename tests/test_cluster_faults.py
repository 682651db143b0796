"""A study on a real two-node Ray cluster (raylets on this machine) tracked by a real MLflow
server, trial drivers kept on the head by a custom resource: a trial's two workers run on
different nodes; one worker process is killed mid-trial and the trial finishes from its
checkpoint with every epoch logged once; in the next trial the worker node leaves (a fresh
one joins, as an autoscaler would bring) and the trial goes on; then the study's driver is
killed and `maskray resume` finishes it against the same cluster."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import maskray, two_trial_study

pytestmark = pytest.mark.slow

SPREAD = ("{workers_per_trial: 2, cpus_per_worker: 0.99, placement: spread, max_failures: 2,"
          " driver_resource: maskray_driver}")


@pytest.fixture
def two_nodes(tmp_path):
    """A head (where trial drivers run) and one worker node, one CPU each, on loopback;
    ended by the fixture. → (cluster, the worker node's args)."""
    from ray.cluster_utils import Cluster
    args = {"num_cpus": 1, "object_store_memory": 96 * 1024 ** 2, "include_dashboard": False,
            "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**args, "resources": {"maskray_driver": 1}},
                      shutdown_at_exit=True)
    try:
        cluster.add_node(**args)
        cluster.wait_for_nodes()
        yield cluster, args
    finally:
        cluster.shutdown()


def own_processes(marker: str) -> list[int]:
    """PIDs of this test's descendants whose command line contains `marker`."""
    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() not in f.read():
                    continue
            ancestor = pid
            while ancestor > 1 and ancestor != os.getpid():
                ancestor = parent(ancestor)
            if ancestor == os.getpid():
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return found


def trial_runs(client) -> dict:
    exp = client.get_experiment_by_name("cluster-faults")
    if exp is None:
        return {}
    runs = client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'")
    return {r.data.tags["maskray.trial_key"]: r for r in runs}


def epochs(client, run) -> list:
    return sorted(client.get_metric_history(run.info.run_id, "finetune/top1"), key=lambda m: m.step)


def wait_for(condition, proc: subprocess.Popen, what: str, seconds: int = 900):
    deadline = time.time() + seconds
    while not condition():
        assert proc.poll() is None, proc.stdout.read().decode()[-4000:]
        assert time.time() < deadline, f"the study did not reach {what} in {seconds} s"
        time.sleep(2)


def test_worker_node_and_driver_lost_on_a_two_node_cluster(two_nodes, mlflow_ui, synth_root, tmp_path):
    from mlflow.tracking import MlflowClient
    cluster, node_args = two_nodes
    client = MlflowClient(mlflow_ui.url)
    study = tmp_path / "cluster-faults.yaml"
    epochs_per_trial = 10   # 2 s each here: the driver is killed while t001 still runs
    study.write_text(two_trial_study("cluster-faults", synth_root, epochs=epochs_per_trial, resources=SPREAD))
    common = ["--address", cluster.address, "--tracking-uri", mlflow_ui.url]
    exe = Path(sys.executable).parent / "maskray"
    proc = subprocess.Popen([str(exe), "run", str(study), *common], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # 1. a worker process dies after t000's first epoch: the worker group restarts
        wait_for(lambda: "t000" in (runs := trial_runs(client)) and epochs(client, runs["t000"]), proc,
                 "t000's first epoch")
        workers = own_processes("RayTrainWorker")
        assert len(workers) == 2, workers
        os.kill(workers[-1], signal.SIGKILL)
        # 2. the worker node leaves after t001's first epoch and a fresh node joins
        wait_for(lambda: "t001" in (runs := trial_runs(client)) and epochs(client, runs["t001"]), proc,
                 "t001's first epoch")
        leaving = next(n for n in cluster.list_all_nodes() if n is not cluster.head_node)
        assert leaving.node_id in trial_runs(client)["t001"].data.tags["maskray.worker_nodes"]
        cluster.remove_node(leaving, allow_graceful=False)
        cluster.add_node(**node_args)
        node_left_at = time.time()
        # 3. the driver dies after t001 has gone on: the cluster stays, the study stops
        wait_for(lambda: epochs(client, trial_runs(client)["t001"])[-1].timestamp / 1000 > node_left_at, proc,
                 "an epoch of t001 after the node left")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    before = trial_runs(client)
    assert before["t000"].info.status == "FINISHED" and before["t001"].info.status == "RUNNING"

    started = time.time()
    out = maskray("resume", str(study), *common, cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    resume_s = time.time() - started

    after = trial_runs(client)
    assert {k: r.info.run_id for k, r in after.items()} == {k: r.info.run_id for k, r in before.items()}
    assert all(r.info.status == "FINISHED" for r in after.values())
    assert after["t000"].info.end_time == before["t000"].info.end_time        # not rerun
    for key, run in after.items():
        logged = epochs(client, run)
        assert [m.step for m in logged] == list(range(1, epochs_per_trial + 1)), (key, logged)  # each once
        nodes = run.data.tags["maskray.worker_nodes"].split(",")
        assert len(nodes) == 2 and nodes[0] != nodes[1], nodes               # spread over the two nodes
    assert leaving.node_id not in after["t001"].data.tags["maskray.worker_nodes"]          # went on elsewhere
    t0 = [m.timestamp / 1000 for m in epochs(client, after["t000"])]
    t1 = [m.timestamp / 1000 for m in epochs(client, before["t001"])]
    print(f"\nworker killed: t000's epoch 1→2 took {t0[1] - t0[0]:.0f} s (epoch 2→3: {t0[2] - t0[1]:.0f} s); "
          f"node replaced: t001's epoch 1→2 took {t1[1] - t1[0]:.0f} s; "
          f"driver killed: `maskray resume` took {resume_s:.0f} s")
