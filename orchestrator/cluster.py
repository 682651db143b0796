"""Connecting to Ray: a local Ray started for the study (explicit CPUs, small object store,
dashboard on 127.0.0.1), or an existing cluster given by --address / RAY_ADDRESS."""
from __future__ import annotations

import os

from orchestrator.errors import UserInputError
from trainables.tracking import is_local_store

TRIAL_DRIVER_CPU = 0.01   # a trial driver mostly waits on its TorchTrainer
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2
TRAIN_POLL_S = 0.25


def connect(address: str | None, num_cpus: int | None = None, verbose: bool = False) -> bool:
    """Starts or joins Ray; returns True when it started a local Ray (the caller shuts it down)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        # One machine: nothing to be preempted, so no PreemptionWatcher actor per Train run;
        # and keep Ray's node address on loopback (read when ray is imported).
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        # A Train controller polls its workers every 2 s by default; it learns a trial ended (and
        # takes in its last checkpoint) only at a poll: a shorter interval takes seconds off each
        # trial for a few cheap actor calls a second. Read by the controllers, which inherit
        # this environment through the local raylet.
        os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", str(TRAIN_POLL_S))
    import ray
    if address:
        ray.init(address=address, log_to_driver=verbose)
        return False
    # address="local": a new Ray of its own, even where another Ray runs on this machine
    # (without it ray.init joins that one)
    ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
             include_dashboard=True, dashboard_host="127.0.0.1", _node_ip_address="127.0.0.1",
             log_to_driver=verbose)
    return True


def concurrent_trials(resources) -> int:
    """`resources.max_concurrent_trials`, or as many trials as the cluster holds at once, so
    Tune does not queue placement groups that cannot be placed."""
    if resources.max_concurrent_trials:
        return resources.max_concurrent_trials
    import ray
    total = ray.cluster_resources()
    fits = [int((total.get("CPU", 0) + 1e-9) // trial_cpus(resources))]
    if resources.gpus_per_worker:
        fits.append(int((total.get("GPU", 0) + 1e-9) // (resources.workers_per_trial * resources.gpus_per_worker)))
    return max(1, min(fits))


def trial_cpus(resources) -> float:
    """The CPUs one trial holds: its workers' and its driver's (a trial run in its driver
    holds its one worker's)."""
    if resources.in_driver:
        return resources.cpus_per_worker
    return resources.workers_per_trial * resources.cpus_per_worker + TRIAL_DRIVER_CPU


def trial_driver_resources(resources):
    """What each trial driver asks for: a little CPU, and the stable-node resource if named;
    a trial run in its driver asks for its worker's CPUs and GPUs."""
    from ray.tune import PlacementGroupFactory
    if resources.in_driver:
        gpus = {"GPU": resources.gpus_per_worker} if resources.gpus_per_worker else {}
        return PlacementGroupFactory([{"CPU": resources.cpus_per_worker} | gpus])
    bundle = {"CPU": TRIAL_DRIVER_CPU}
    if resources.driver_resource:
        bundle[resources.driver_resource] = 0.001
    return PlacementGroupFactory([bundle])


def check_fits(resources, started_locally: bool, tracking_uri: str, storage_path: str) -> None:
    """Errors before launch for a study that could never be placed or tracked here."""
    import ray
    problems = []
    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0), total.get("GPU", 0)
    need_cpu = trial_cpus(resources)
    need_gpu = resources.workers_per_trial * resources.gpus_per_worker
    if need_cpu > cpus:
        driver = "" if resources.in_driver else f" + {TRIAL_DRIVER_CPU} for its driver"
        problems.append(f"resources: one trial needs {need_cpu:g} CPUs (resources.workers_per_trial="
                        f"{resources.workers_per_trial} × resources.cpus_per_worker={resources.cpus_per_worker}"
                        f"{driver}) but the cluster has {cpus:g}")
    if need_gpu > gpus:
        problems.append(f"resources: one trial needs {need_gpu:g} GPUs but the cluster has {gpus:g}")
    if resources.driver_resource and not total.get(resources.driver_resource):
        problems.append(f"resources.driver_resource = {resources.driver_resource!r}: no node of the cluster "
                        f"advertises it (ray start --resources='{{\"{resources.driver_resource}\": 1}}')")
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if not started_locally and len(nodes) > 1:
        if is_local_store(tracking_uri):
            problems.append(f"tracking.uri = {tracking_uri!r}: a local store is not reachable from the other "
                            f"{len(nodes) - 1} node(s); use an MLflow server (http://...)")
        if "://" not in storage_path:
            print(f"note: storage {storage_path} must be a shared file system mounted on all "
                  f"{len(nodes)} nodes (or use an object-store URI)")
    if problems:
        raise UserInputError("cluster", problems)


def shutdown() -> None:
    import ray
    ray.shutdown()
