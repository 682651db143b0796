"""Mistakes a new user makes, each caught before any Ray process starts or any MLflow run is
made: exit code 2, one message naming the culprit, no traceback, within seconds."""
import os
import time
from pathlib import Path

import pytest

from tests.conftest import ONE_WORKER, free_port, maskray, two_trial_study


def ray_session() -> str | None:
    """The newest local Ray session on this machine (a study that starts Ray makes a new one)."""
    latest = Path("/tmp/ray/session_latest")
    return os.path.realpath(latest) if latest.exists() else None


def refused(tmp_path: Path, *args: str, culprit: str, limit_s: float = 20):
    """Runs `maskray ARGS` and checks it was refused the way every bad input is."""
    session = ray_session()
    started = time.monotonic()
    out = maskray(*args, cwd=tmp_path, timeout=120)
    seconds = time.monotonic() - started
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert culprit in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert seconds < limit_s, f"took {seconds:.1f} s"
    assert ray_session() == session                       # no Ray started
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "maskray_results").exists()
    return out


def study(tmp_path: Path, root: Path, text: str | None = None) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text if text is not None else two_trial_study("s", root, resources=ONE_WORKER))
    return path


def test_a_sweep_axis_given_twice_is_refused_with_its_line(synth_root, tmp_path):
    text = two_trial_study("s", synth_root, resources=ONE_WORKER).replace(
        "  finetune.base_lr: [2.0e-2, 1.0e-2]\n",
        "  finetune.base_lr: [2.0e-2, 1.0e-2]\n  finetune.base_lr: [5.0e-3]\n")
    path = study(tmp_path, synth_root, text)
    for command in ("validate", "run"):
        out = refused(tmp_path, command, str(path), culprit="key 'finetune.base_lr' is given twice")
        assert str(path) in out.stderr and "line 8" in out.stderr


def test_a_key_twice_inside_a_mapping_is_refused(synth_root, tmp_path):
    text = two_trial_study("s", synth_root, resources=ONE_WORKER).replace(
        "pretrain: {enabled: false}", "pretrain: {masking: {strategy: tube, ratio: 0.9, ratio: 0.5}}")
    refused(tmp_path, "validate", str(study(tmp_path, synth_root, text)), culprit="key 'ratio' is given twice")


@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_typo_in_the_tracking_uri_is_refused(synth_root, tmp_path, command):
    refused(tmp_path, command, str(study(tmp_path, synth_root)), "--tracking-uri", "htp://127.0.0.1:5000",
            culprit="tracking uri htp://127.0.0.1:5000: 1 problem(s)\n  - unknown scheme 'htp'")


def test_a_tracking_server_that_is_not_running_is_refused_within_seconds(synth_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--tracking-uri", uri,
            culprit=f"tracking uri {uri}", limit_s=20)


def test_validate_online_probes_the_studys_tracking_server(synth_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    text = two_trial_study("s", synth_root, resources=ONE_WORKER) + f"tracking: {{uri: '{uri}'}}\n"
    path = study(tmp_path, synth_root, text)
    assert maskray("validate", str(path)).returncode == 0      # offline: only the scheme is checked
    refused(tmp_path, "validate", "--online", str(path), culprit="the MLflow server does not answer")


def test_a_storage_path_that_cannot_be_written_is_refused(synth_root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--storage", str(blocker / "results"),
            culprit=f"storage {blocker / 'results'}")


def test_the_storage_check_leaves_no_folder_behind(tmp_path):
    from orchestrator.preflight import check_storage
    check_storage(str(tmp_path / "new" / "results"))
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    check_storage(str(tmp_path / "kept"))
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())


# Study files, checked by `maskray validate` (and by `run`, which validates the same way).
STUDY_FILE_CASES = {
    "empty": (lambda ok: "", "a study file must be a YAML mapping"),
    "a list": (lambda ok: "- name: s\n", "a study file must be a YAML mapping"),
    "tab indentation": (lambda ok: "name: s\n\tdata: 1\n", 'in "{path}", line 2'),
    "unclosed bracket": (lambda ok: ok.replace("seeds: [0]", "seeds: [0"), "not valid YAML"),
    "utf-16": (lambda ok: ok, "UTF-16 text"),
    "unknown top-level key": (lambda ok: ok.replace("sweep:", "sweeps:"), "sweeps: Extra inputs are not permitted"),
    "axis with a typo": (lambda ok: ok.replace("finetune.base_lr: [", "finetune.base_lrr: ["),
                         "sweep axis 'finetune.base_lrr': finetune has no field 'base_lrr'"),
    "axis without values": (lambda ok: ok.replace("[2.0e-2, 1.0e-2]", "[]"), "axis 'finetune.base_lr' has no values"),
    "seeds not a list": (lambda ok: ok.replace("seeds: [0]", "seeds: 3"), "seeds = 3"),
    "unknown strategy": (lambda ok: ok.replace("pretrain: {enabled: false}",
                                               "pretrain: {masking: {strategy: tubes, ratio: 0.9}}"),
                         "unknown masking strategy 'tubes'"),
    "ratio above 1": (lambda ok: ok.replace("pretrain: {enabled: false}",
                                            "pretrain: {masking: {strategy: tube, ratio: 1.5}}"), "1.5"),
    "reference outside the sweep": (lambda ok: ok + "reference: {finetune.base_lr: 0.5}\n",
                                    "are not values of their axes"),
    "lists without num_classes": (lambda ok: ok.replace("num_classes: 8, ", ""),
                                  "num_classes is required when source is 'lists'"),
}


@pytest.mark.parametrize("case", STUDY_FILE_CASES)
def test_a_bad_study_file_is_refused(synth_root, tmp_path, case):
    edit, culprit = STUDY_FILE_CASES[case]
    path = tmp_path / "s.yaml"
    text = edit(two_trial_study("s", synth_root, resources=ONE_WORKER))
    if case == "utf-16":
        path.write_bytes(text.encode("utf-16"))
    else:
        path.write_text(text)
    out = refused(tmp_path, "validate", str(path), culprit=culprit.format(path=path))
    assert str(path) in out.stderr


def test_an_unknown_preset_is_refused(synth_root, tmp_path):
    refused(tmp_path, "validate", str(study(tmp_path, synth_root)), "--preset", "paper",
            culprit="--preset 'paper': the study defines no presets")


def list_root(tmp_path: Path, synth_root: Path, train: str | bytes | None = None) -> Path:
    """A copy of the synthetic lists (videos linked) whose train list is `train` when given."""
    root = tmp_path / "lists"
    root.mkdir()
    (root / "videos").symlink_to(synth_root / "videos")
    for split in ("train", "val", "test"):
        (root / f"{split}.csv").write_text((synth_root / f"{split}.csv").read_text())
    if isinstance(train, bytes):
        (root / "train.csv").write_bytes(train)
    elif train is not None:
        (root / "train.csv").write_text(train)
    return root


def first_lines(synth_root: Path, n: int = 20) -> list[str]:
    return (synth_root / "train.csv").read_text().splitlines()[:n]


LIST_CASES = {
    "missing list": (None, "data.train_list: {root}/train.csv does not exist"),
    "utf-16 list": (lambda lines: "\n".join(lines).encode("utf-16"), "{root}/train.csv: UTF-16 text"),
    "semicolon separator": (lambda lines: "\n".join(line.replace(" ", ";") for line in lines),
                            "{root}/train.csv:1: expected 'path label'"),
    "label out of range": (lambda lines: "\n".join(lines[:-1] + [lines[-1].rsplit(" ", 1)[0] + " 8"]),
                           "label 8 outside [0, 8)"),
    "missing videos": (lambda lines: "\n".join(lines[:15] + [f"videos/gone_{i}.mp4 0" for i in range(5)]),
                       "5 of 20 videos missing or empty"),
}


@pytest.mark.parametrize("case", LIST_CASES)
def test_a_bad_list_is_refused_before_ray_starts(synth_root, tmp_path, case):
    edit, culprit = LIST_CASES[case]
    root = list_root(tmp_path, synth_root, edit(first_lines(synth_root)) if edit else None)
    if edit is None:
        (root / "train.csv").unlink()
    path = study(tmp_path, root)
    for command in ("validate", "run"):
        refused(tmp_path, command, str(path), culprit=culprit.format(root=root))


def test_empty_videos_are_named(synth_root, tmp_path):
    lines = first_lines(synth_root, 17)
    root = tmp_path / "lists"
    (root / "videos").mkdir(parents=True)
    for line in lines:
        rel = line.split()[0]
        (root / rel).symlink_to(synth_root / rel)
    for i in range(3):
        (root / "videos" / f"empty_{i}.mp4").touch()
    for split in ("train", "val", "test"):
        (root / f"{split}.csv").write_text("\n".join(lines + [f"videos/empty_{i}.mp4 0" for i in range(3)]))
    refused(tmp_path, "validate", str(study(tmp_path, root)),
            culprit=f"3 of 20 videos missing or empty (more than data.max_unreadable_fraction=0.05): "
                    f"{root / 'videos' / 'empty_0.mp4'} empty (0 bytes)")


def test_a_bom_crlf_list_with_spaces_in_paths_is_read(synth_root, tmp_path):
    """Not mistakes: what Excel and Windows write, and folders with spaces, are read as meant."""
    from trainables.data.lists import read_list
    root = tmp_path / "my data"
    (root / "my videos").mkdir(parents=True)
    lines = []
    for line in first_lines(synth_root, 10):
        rel, label = line.split()
        name = rel.split("/", 1)[1]
        (root / "my videos" / name).symlink_to(synth_root / rel)
        lines.append(f"my videos/{name} {label}")
    for split in ("train", "val", "test"):
        (root / f"{split}.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    out = maskray("validate", str(study(tmp_path, root)), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    items = read_list(root / "train.csv", 8)
    assert len(items) == 10 and items[0] == (str(root / lines[0].rsplit(" ", 1)[0]), int(lines[0].rsplit(" ", 1)[1]))


def test_a_storage_uri_that_cannot_be_written_is_refused(synth_root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    uri = f"file://{blocker}/results"
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--storage", uri, culprit=f"storage {uri}")


def test_a_ray_address_that_does_not_answer_is_refused(synth_root, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    refused(tmp_path, "run", str(study(tmp_path, synth_root)), "--address", address,
            culprit=f"--address {address}: 1 problem(s)\n  - no Ray cluster answers there")


def test_ui_on_a_busy_port_is_refused(tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused(tmp_path, "ui", "--port", str(port), culprit=f"cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("command", [("status", "s"), ("report", "s"), ("compare", "t000", "t001", "--study", "s"),
                                     ("resume", "STUDY")], ids=lambda c: c[0])
def test_reading_a_study_where_no_store_is_refused(synth_root, tmp_path, command):
    args = [str(study(tmp_path, synth_root)) if a == "STUDY" else a for a in command]
    refused(tmp_path, *args, culprit=f"no MLflow store at {tmp_path / 'mlflow.db'}")


def test_reading_an_unknown_study_is_refused(tmp_path):
    from mlflow.tracking import MlflowClient
    MlflowClient(f"sqlite:///{tmp_path / 'other.db'}").create_experiment("another-study")
    for command in ("status", "report"):
        refused(tmp_path, command, "s", "--tracking-uri", "sqlite:///other.db",
                culprit="no MLflow experiment named 's'")


def test_bad_mask_and_data_check_arguments_are_refused(tmp_path):
    refused(tmp_path, "mask", "tubes", "--ratio", "0.9", "--grid", "4,4,4", culprit="unknown masking strategy 'tubes'")
    refused(tmp_path, "mask", "tube", "--ratio", "0.9", "--grid", "4,4", culprit="expected T,H,W positive integers")
    refused(tmp_path, "data", "check", str(tmp_path / "none.csv"), culprit=f"{tmp_path / 'none.csv'}: list file does not exist")


def test_validate_notes_a_dataset_that_is_not_on_this_machine(tmp_path):
    """A study's paper preset names a cluster's dataset: validate checks the study and says
    the lists are checked where it runs (run itself refuses absent lists, above)."""
    from tests.conftest import REPO
    out = maskray("validate", str(REPO / "studies" / "quickstart.yaml"), "--preset", "paper", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "data.root=data/kinetics400 is not on this machine" in out.stderr and "Traceback" not in out.stderr
