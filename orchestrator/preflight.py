"""What is checked before any Ray process starts or any MLflow run is made, so a mistake
costs seconds and leaves nothing behind: the study file read with a loader that refuses a
key given twice, the tracking URI's scheme, a tracking server that answers, a storage path
that can be written, the data lists and their videos, a Ray address that answers; for the
commands that read a study back, a store that exists; for `maskray ui`, a free port. Each
failure is a `UserInputError` (exit 2) naming the culprit."""
from __future__ import annotations

import io
import os
import socket
import sys
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
    from trainables.data.lists import read_utf8
    try:
        stream = io.StringIO(read_utf8(path))
        stream.name = str(path)                  # named in PyYAML's error marks
        return yaml.load(stream, Loader=_UniqueKeyLoader)
    except ValueError as e:
        raise UserInputError(str(path), [str(e)]) from None
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
    """The storage path can be created and written: a marker file made and removed (folders the
    check made are removed too). URIs (s3://, gs://, file://) go through pyarrow's file
    systems, as Ray's own storage does, with the credentials Ray would use."""
    if "://" in path:
        _check_storage_uri(path)
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


def _check_storage_uri(uri: str) -> None:
    import pyarrow.fs
    try:
        fs, base = pyarrow.fs.FileSystem.from_uri(uri)
        marker = f"{base.rstrip('/')}/.maskray-write-check-{os.getpid()}"
        fs.create_dir(base, recursive=True)
        with fs.open_output_stream(marker) as out:
            out.write(b"ok")
        fs.delete_file(marker)
    except (OSError, ValueError, pyarrow.ArrowException) as e:
        raise UserInputError(f"storage {uri}", [
            f"cannot write there ({str(e).splitlines()[0]}): fix storage.path or --storage, or the "
            f"credentials of its object store"]) from None


def check_lists(data, absent_ok: bool = False) -> dict[str, str]:
    """The train/val/test lists of a `DataConfig`: each exists, parses (UTF-8, `path label`
    lines, labels within num_classes), and names videos that exist and are not empty. A few
    missing or empty videos are tolerated (training skips them) up to
    `data.max_unreadable_fraction`; more refuse the study. With `absent_ok` (validate), a
    root that is not on this machine at all (a cluster's dataset) is noted, not refused.
    → split → list path."""
    from trainables.data.lists import ListFormatError, read_list
    root = Path(data.root).resolve()
    paths = {split: root / getattr(data, f"{split}_list") for split in ("train", "val", "test")}
    problems = [f"data.{split}_list: {path} does not exist" for split, path in paths.items() if not path.is_file()]
    if problems and absent_ok and not root.exists():
        print(f"note: data.root={data.root} is not on this machine: its lists are checked where the study runs",
              file=sys.stderr, flush=True)
        return {}
    if problems:
        raise UserInputError(f"data.root={data.root}", problems)
    for split, path in paths.items():
        try:
            items = read_list(path, data.classes)
        except ListFormatError as e:
            problems += str(e).splitlines()
            continue
        bad = [(video, "missing") for video, _ in items if not os.path.isfile(video)]
        bad += [(video, "empty (0 bytes)") for video, _ in items
                if os.path.isfile(video) and os.path.getsize(video) == 0]
        if len(bad) > data.max_unreadable_fraction * len(items):
            shown = "; ".join(f"{video} {why}" for video, why in bad[:5])
            problems.append(f"{path}: {len(bad)} of {len(items)} videos missing or empty (more than "
                            f"data.max_unreadable_fraction={data.max_unreadable_fraction:g}): {shown}"
                            + (" ..." if len(bad) > 5 else ""))
        elif bad:
            print(f"warning: {path}: {len(bad)} of {len(items)} videos missing or empty, skipped in training "
                  f"(e.g. {bad[0][0]})", file=sys.stderr, flush=True)
    if problems:
        raise UserInputError(f"data.root={data.root}", problems[:20])
    return {split: str(path) for split, path in paths.items()}


def check_store_exists(uri: str) -> None:
    """For commands that read a study back: a SQLite store that is not there is a wrong
    --tracking-uri or folder (MLflow would create an empty one and report no study)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_file():
            raise UserInputError(f"tracking uri {uri}", [
                f"no MLflow store at {path}: run the command where the study ran, or pass --tracking-uri"])
    else:
        check_tracking_uri(uri)


def check_port_free(host: str, port: int) -> None:
    """`maskray ui` can listen on host:port (MLflow's server would fail with a long traceback)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # as the server will: a port whose last connections are still closing (TIME_WAIT) is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise UserInputError(f"--port {port}", [
                f"cannot listen on {host}:{port} ({e.strerror or e}): another server (an earlier `maskray ui`?) "
                f"holds it; choose another --port or stop that one"]) from None


def check_ray_address(address: str | None) -> None:
    """A Ray cluster address (`host:port`, `ray://host:port`) that accepts a connection within
    PROBE_TIMEOUT_S; `auto`, and no address (a local Ray), are left to Ray."""
    if not address or address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"--address {address}", ["expected host:port or ray://host:port"])
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise UserInputError(f"--address {address}", [
            f"no Ray cluster answers there ({e.strerror or e}) within {PROBE_TIMEOUT_S:g} s: start it "
            f"(`ray start --head`) or fix --address / RAY_ADDRESS"]) from None
