import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is installed by `make test` "
                                                             "(scripts/install_browser.sh)")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic-actions dataset shared by the tests (generated once)."""
    from trainables.data import synth
    root = tmp_path_factory.mktemp("synthetic-actions")
    synth.generate(root, clips_per_class=6, size=48, frames=16, seed=1)
    return root


ONE_AT_A_TIME = "{workers_per_trial: 2, cpus_per_worker: 0.99, max_concurrent_trials: 1}"
# one worker per trial: run in the trial's Tune driver, without a Ray Train worker group
ONE_WORKER = "{workers_per_trial: 1, cpus_per_worker: 0.99, max_concurrent_trials: 1}"


def small_clips(root: Path) -> str:
    """The `data` and `model` lines of a study on the synthetic lists under `root`: 8-frame
    32² clips, a nano ViT with 8-px patches (flow-style YAML, as it appears in a dedented study)."""
    return (f"data: {{source: lists, root: {root}, num_classes: 8, num_frames: 8, sampling_rate: 2, "
            f"input_size: 32, loader_workers: 0}}\nmodel: {{preset: nano, patch_size: 8}}")


def two_trial_study(name: str, root: Path, extra: str = "", epochs: int = 3,
                    resources: str = ONE_AT_A_TIME) -> str:
    """A study of two short fine-tuning-only trials (they differ in learning rate) on the lists
    under `root`; `extra` adds top-level YAML lines (a scheduler, say), `resources` is the
    study's resources mapping as flow-style YAML."""
    return f"name: {name}\n{small_clips(root)}\n" + textwrap.dedent(f"""\
        pretrain: {{enabled: false}}
        finetune: {{epochs: {epochs}, batch_size: 4, base_lr: 2.0e-2}}
        sweep:
          finetune.base_lr: [2.0e-2, 1.0e-2]
        seeds: [0]
        resources: {resources}
        """) + extra


def values_logged_twice(client, run) -> list[tuple[str, int]]:
    """(metric, step) pairs of an MLflow run that have more than one value: each metric of a
    trial is logged once per step, also across stages and restarts."""
    twice = []
    for key in run.data.metrics:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        twice += [(key, step) for step in sorted(set(steps)) if steps.count(step) > 1]
    return twice


def maskray(*args: str, cwd: Path | None = None, timeout: int = 600):
    """Runs the installed `maskray` command as a user would. On a time-out its whole process
    group goes (the local Ray it started too), so a hung study does not slow the tests after it."""
    import signal
    import subprocess
    exe = Path(sys.executable).parent / "maskray"
    proc = subprocess.Popen([str(exe), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(root: Path, port: int):
    """`maskray ui` on loopback for the SQLite store in `root`, answering /health; → its process.
    The server's log goes to a file: a pipe nobody reads fills up after a few hundred
    requests and then blocks the server on its next log line."""
    import subprocess
    import time
    import urllib.request
    exe = Path(sys.executable).parent / "maskray"
    log = root / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(exe), "ui", "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}",
                                 "--port", str(port)], cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.time() + 150
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                why = f"exited with {proc.returncode}" if proc.poll() is not None else "did not answer within 150 s"
                stop_ui(proc)
                raise AssertionError(f"the MLflow server {why}:\n" + log.read_text()[-2000:])
            time.sleep(0.5)


def stop_ui(proc) -> None:
    import signal
    import subprocess
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def mlflow_ui(tmp_path_factory):
    """`maskray ui`: a real MLflow server (SQLite store, proxied artifacts) on loopback,
    shared by the tests that need one."""
    from types import SimpleNamespace
    root = tmp_path_factory.mktemp("mlflow-ui")
    port = free_port()
    proc = start_ui(root, port)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, store_uri=f"sqlite:///{root / 'mlflow.db'}",
                              root=root)
    finally:
        stop_ui(proc)


def chromium_dom(url: str, budget_ms: int = 10000, window: str = "1400,900") -> str:
    """The page's DOM after `budget_ms` of virtual time in headless Chromium (scripts run)."""
    import subprocess
    out = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}", f"--window-size={window}",
                          "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout
