"""Loading a study file and expanding its sweep into validated trial configs."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import UserInputError
from orchestrator.preflight import read_yaml
from orchestrator.search import search_points
from orchestrator.spec import StudySpec
from trainables.config import TrialConfig
from trainables.fingerprint import config_hash


CONTROL = "scratch"   # the value a from-scratch trial shows for each pretraining axis


@dataclass(frozen=True)
class Trial:
    index: int
    axes: dict[str, Any]          # swept path → value, plus "seed"
    config: TrialConfig
    control: bool = False         # the study's from-scratch arm (no pretraining)

    @property
    def key(self) -> str:
        return f"t{self.index:03d}"

    @property
    def trial_id(self) -> str:
        """Content hash of the resolved config: stable across restarts and re-expansions."""
        return config_hash(self.config.model_dump(mode="json"))


def axes_label(axes: dict[str, Any]) -> str:
    """`ratio=0.9 strategy=tube seed=0`: each axis by the last part of its path."""
    return " ".join(f"{path.rsplit('.', 1)[-1]}={value}" for path, value in axes.items())


def _format_errors(err: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        shown = e.get("input")
        if isinstance(shown, dict):
            out.append(f"{prefix}{path}: {msg}")
        else:
            out.append(f"{prefix}{path} = {shown!r}: {msg}")
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def apply_preset(raw: dict, preset: str | None, source: str) -> dict:
    """The study with preset `preset` (a partial study under `presets:`) merged over it; the
    study's name gets `-<preset>` so each scale has its own MLflow experiment."""
    presets = raw.pop("presets", None) or {}
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise UserInputError(source, ["presets: expected a mapping of preset name → partial study"])
    if preset is None:
        return raw
    if preset not in presets:
        raise UserInputError(source, [f"--preset {preset!r}: the study defines "
                                      f"{', '.join(sorted(presets)) or 'no presets'}"])
    merged = _merge(raw, presets[preset])
    merged["name"] = f"{merged.get('name', 'study')}-{preset}"
    return merged


def study_presets(path: str | Path) -> list[str]:
    raw = read_yaml(Path(path)) or {}
    return sorted((raw.get("presets") or {}) if isinstance(raw, dict) else {})


def load_study(path: str | Path, preset: str | None = None) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(str(path), ["study file does not exist"])
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserInputError(str(path), ["a study file must be a YAML mapping"])
    raw = apply_preset(raw, preset, str(path))
    try:
        return StudySpec.model_validate(raw)
    except ValidationError as e:
        raise UserInputError(str(path), _format_errors(e)) from None


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Sets one axis value. An axis named after a whole section (`finetune`) takes partial
    sections, merged over the base: one axis can then change fields that only make sense
    together (MAR: masking and its reconstruction loss weight)."""
    if "." not in dotted and isinstance(value, dict) and isinstance(tree.get(dotted), dict):
        tree[dotted] = _merge(tree[dotted], value)
        return
    node = tree
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:i]) or "the trial config"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a section)"
            raise KeyError(f"sweep axis {dotted!r}: {where} has no field {part!r} (fields: {known})")
        if i == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]


def expand_trials(spec: StudySpec, source: str = "study") -> list[Trial]:
    """Every grid point × seed as a validated TrialConfig; all problems reported at once."""
    base = spec.base_trial()
    axis_paths = list(spec.sweep)
    problems: list[str] = []
    trials: list[Trial] = []
    for values in search_points(spec, source):
        for seed in spec.seeds:
            axes = dict(zip(axis_paths, values)) | {"seed": seed}
            tree = copy.deepcopy(base) | {"seed": seed}
            try:
                for p, v in zip(axis_paths, values):
                    _set_path(tree, p, v)
            except KeyError as e:
                problems.append(e.args[0])
                continue
            try:
                config = TrialConfig.model_validate(tree)
            except ValidationError as e:
                label = ", ".join(f"{k}={v}" for k, v in axes.items())
                problems += _format_errors(e, prefix=f"trial ({label}): ")
                continue
            trials.append(Trial(len(trials), axes, config))
    if problems:
        raise UserInputError(source, list(dict.fromkeys(problems)))
    if spec.control:
        trials += _control_trials(spec, trials)
    return trials


def is_pretraining_axis(path: str) -> bool:
    return path == "pretrain" or path.startswith("pretrain.")


def _control_trials(spec: StudySpec, trials: list[Trial]) -> list[Trial]:
    """The from-scratch arm: each distinct combination of the non-pretraining axes (and seed)
    of the study's trials, fine-tuned the same way without pretraining. A point whose
    fine-tuning needs pretraining (MAR's reconstruction branch) has no control."""
    out: list[Trial] = []
    seen = set()
    scratch = spec.base_trial()["pretrain"] | {"enabled": False}
    for trial in trials:
        axes = {p: CONTROL if is_pretraining_axis(p) else v for p, v in trial.axes.items()}
        signature = repr(sorted(axes.items(), key=lambda kv: kv[0]))
        if signature in seen:
            continue
        seen.add(signature)
        tree = trial.config.model_dump(mode="json")
        tree["pretrain"] = scratch
        try:
            config = TrialConfig.model_validate(tree)
        except ValidationError:
            continue
        out.append(Trial(len(trials) + len(out), axes, config, control=True))
    return out
