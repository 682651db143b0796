"""What is checked before any Ray process starts or any MLflow run is made, so a mistake
costs seconds and leaves nothing behind: the study file read with a loader that refuses a
key given twice, the tracking URI's scheme, a tracking server that answers, a storage path
that can be written. Each failure is a `UserInputError` (exit 2) naming the culprit."""
from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from orchestrator.errors import UserInputError

# What MLflow's tracking store accepts (file and sqlite stores, its REST server, SQLAlchemy
# databases, Databricks); a bare path is a file store.
TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks",
                    "databricks-uc")
PROBE_TIMEOUT_S = 5.0


class _DuplicateKey(Exception):
    def __init__(self, key, line: int, first_line: int):
        super().__init__(f"line {line}: key {key!r} is given twice in one mapping (first on line {first_line}); "
                         f"YAML would keep only the last")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML keeps the last one
    silently: a sweep axis given twice would run a study other than the one written)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue            # the base loader reports unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep)


def read_yaml(path: Path):
    """The YAML document at `path` (safe types only), or a UserInputError naming the file."""
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except _DuplicateKey as e:
        raise UserInputError(str(path), [str(e)]) from None
    except yaml.YAMLError as e:
        raise UserInputError(str(path), [f"not valid YAML: {e}"]) from None


def check_tracking_uri(uri: str, probe: bool = True) -> None:
    """A scheme MLflow knows; with `probe`, an http(s) server that answers /health within
    PROBE_TIMEOUT_S (a server that is down would otherwise hang the study for minutes)."""
    if "://" not in uri and not uri.startswith(("sqlite:", "file:")):
        return                       # a path: MLflow's file store
    scheme = uri.split(":", 1)[0].lower()
    if scheme.split("+", 1)[0] not in TRACKING_SCHEMES:
        raise UserInputError(f"tracking uri {uri}", [
            f"unknown scheme {scheme!r}; MLflow takes {', '.join(TRACKING_SCHEMES)} (or a plain path)"])
    if probe and scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
                if response.status != 200:
                    raise OSError(f"HTTP {response.status}")
        except (OSError, urllib.error.URLError) as e:
            reason = getattr(e, "reason", e)
            raise UserInputError(f"tracking uri {uri}", [
                f"the MLflow server does not answer ({reason}) within {PROBE_TIMEOUT_S:g} s: start it "
                f"(`maskray server --port ...`) or fix tracking.uri / --tracking-uri"]) from None


def check_storage(path: str) -> None:
    """A local storage path can be created and written (a marker file made and removed).
    Object-store URIs (s3://, gs://) are left to Ray, which reads their credentials."""
    if "://" in path:
        return
    folder = Path(path).expanduser().absolute()
    made = [p for p in (folder, *folder.parents) if not p.exists()]   # what the check creates, it removes
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, marker = tempfile.mkstemp(dir=folder, prefix=".maskray-write-check-")
        os.close(fd)
        os.unlink(marker)
    except OSError as e:
        raise UserInputError(f"storage {path}", [
            f"cannot write there ({e.strerror or e}): fix storage.path or --storage"]) from None
    finally:
        for created in made:           # deepest first
            try:
                created.rmdir()
            except OSError:
                pass
