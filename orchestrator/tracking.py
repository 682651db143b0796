"""MLflow layout of a study: one experiment per study, one parent run per execution, one
child run per trial, found or created by tags so a restored trial reattaches to its run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

PARENT_TAG = "mlflow.parentRunId"
STUDY_TAG = "maskray.study_id"
TRIAL_TAG = "maskray.trial_id"
ROLE_TAG = "maskray.role"


def absolute_uri(uri: str) -> str:
    """sqlite:///relative.db → sqlite:////abs/relative.db, so every process finds the same store."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    if "://" not in uri:
        return str(Path(uri).resolve())
    return uri


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, path + ".")
        else:
            out[path] = value
    return out


def client(uri: str):
    from mlflow.tracking import MlflowClient
    return MlflowClient(uri)


def ensure_experiment(uri: str, name: str, artifact_location: str | None) -> str:
    c = client(uri)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = Path(artifact_location).resolve().as_uri() if artifact_location and is_local_store(uri) else None
    return c.create_experiment(name, artifact_location=location)


def _find(uri: str, experiment_id: str, tags: dict[str, str]):
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client(uri).search_runs([experiment_id], filter_string=query, max_results=2,
                                   order_by=["attributes.start_time ASC"])
    return runs[0] if runs else None


def parent_run(uri: str, experiment_id: str, study_id: str, run_name: str, params: dict) -> str:
    found = _find(uri, experiment_id, {STUDY_TAG: study_id, ROLE_TAG: "study"})
    if found is not None:
        return found.info.run_id
    c = client(uri)
    run = c.create_run(experiment_id, run_name=run_name, tags={STUDY_TAG: study_id, ROLE_TAG: "study"})
    _log_params(c, run.info.run_id, params)
    return run.info.run_id


def child_run(uri: str, experiment_id: str, parent_id: str, study_id: str, trial_id: str,
              run_name: str, params: dict, tags: dict[str, str]) -> tuple[str, bool]:
    """(run id, created): the trial's run under the parent, made only if it does not exist."""
    found = _find(uri, experiment_id, {STUDY_TAG: study_id, TRIAL_TAG: trial_id})
    if found is not None:
        return found.info.run_id, False
    c = client(uri)
    run = c.create_run(experiment_id, run_name=run_name, tags={
        PARENT_TAG: parent_id, STUDY_TAG: study_id, TRIAL_TAG: trial_id, ROLE_TAG: "trial", **tags})
    _log_params(c, run.info.run_id, params)
    return run.info.run_id, True


def child_runs(uri: str, experiment_id: str, study_id: str, status: str | None = None) -> list:
    query = f"tags.`{STUDY_TAG}` = '{study_id}' and tags.`{ROLE_TAG}` = 'trial'"
    if status:
        query += f" and attributes.status = '{status}'"
    return client(uri).search_runs([experiment_id], filter_string=query, max_results=10000)


def _log_params(c, run_id: str, params: dict) -> None:
    from mlflow.entities import Param
    items = [Param(k, str(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):  # MLflow's per-request limit
        c.log_batch(run_id, params=items[i:i + 100])
