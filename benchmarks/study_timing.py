"""What the study benchmarks share: a small synthetic-actions set, `maskray run` timed as a
user runs it (wall and CPU seconds of every process it starts), and each trial's timeline
read back from its MLflow run."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from trainables.tracking import TRIAL_KEY_TAG

MASKRAY = str(Path(sys.executable).parent / "maskray")


def make_dataset(root: Path, clips_per_class: int = 40) -> Path:
    from trainables.data import synth
    synth.ensure(root, clips_per_class=clips_per_class, size=64, frames=16, fps=16, seed=0)
    return root


TWO_WORKERS = "{workers_per_trial: 2, cpus_per_worker: 0.99, max_concurrent_trials: 1}"


def laptop_study(name: str, root: Path, clips_per_class: int, pretrain_epochs: int, finetune_epochs: int,
                 rest: str, resources: str = TWO_WORKERS) -> str:
    """The benchmarks' study: nano ViT on synthetic-actions, one trial at a time (2 DDP
    workers unless `resources` says otherwise); `rest` adds the sweep and seeds."""
    return f"""name: {name}
data: {{source: synthetic-actions, root: {root}, num_frames: 8, sampling_rate: 2, input_size: 32,
       loader_workers: 0, cache_decoded_videos: true, synth: {{clips_per_class: {clips_per_class}, size: 64, frames: 16}}}}
model: {{preset: nano, patch_size: 8, tubelet_size: 2}}
pretrain: {{epochs: {pretrain_epochs}, batch_size: 8, base_lr: 1.5e-2, warmup_epochs: 0.5,
           masking: {{strategy: tube, ratio: 0.9}}, target: normalized_pixel}}
finetune: {{epochs: {finetune_epochs}, batch_size: 8, base_lr: 2.4e-2, warmup_epochs: 1, layer_decay: 1.0}}
resources: {resources}
{rest}"""


def _descendants_cpu(root: int, known: set[int], seen: dict[int, float]) -> None:
    """Updates pid → CPU seconds so far of `root` and every process it started, directly or
    not (`known` keeps the descendants found so far: one whose parent exits is re-parented, but
    stays counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stats[int(entry)] = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
    known.add(root)
    grew = True
    while grew:
        new = {pid for pid, fields in stats.items() if pid not in known and int(fields[1]) in known}
        known |= new
        grew = bool(new)
    for pid in known & stats.keys():
        fields = stats[pid]
        seen[pid] = (int(fields[11]) + int(fields[12])) / tick   # utime + stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds, the finished process) of `cmd`. The CPU seconds are summed
    over it and every process it starts (Ray's daemons and workers, torchrun's workers),
    sampled from /proc every 0.1 s: a process's last 0.1 s before it exits can be missed, the
    same on every side of a comparison."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    known: set[int] = set()
    seen: dict[int, float] = {}
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            _descendants_cpu(proc.pid, known, seen)
    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    _descendants_cpu(proc.pid, known, seen)   # what still runs after the command returned
    return wall, sum(seen.values()), subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def run_maskray(study: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU seconds) of `maskray run STUDY` (fails loudly if the study fails)."""
    wall, cpu, out = timed([MASKRAY, "run", str(study), "--num-cpus", "2", *extra], cwd, env)
    if out.returncode != 0:
        sys.exit(f"maskray run {study} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, cpu


def trial_runs(cwd: Path, experiment: str) -> list[dict]:
    """Per trial: key, wall seconds of its MLflow run, seconds from the run's creation to its
    first logged metric (the worker group's start-up), final metrics and tags."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    rows = []
    for run in client.search_runs([exp.experiment_id], "tags.`maskray.role` = 'trial'"):
        first = min(client.get_metric_history(run.info.run_id, key)[0].timestamp for key in run.data.metrics)
        rows.append({"key": run.data.tags[TRIAL_KEY_TAG],
                     "seconds": (run.info.end_time - run.info.start_time) / 1000,
                     "startup_s": (first - run.info.start_time) / 1000,
                     "metrics": run.data.metrics, "tags": run.data.tags})
    return sorted(rows, key=lambda r: r["key"])
