"""Study files: expansion into validated trials, and one clear error for every bad field."""
import textwrap

import pytest

from orchestrator.errors import UserInputError
from orchestrator.study import expand_trials, load_study
from tests.conftest import REPO, maskray


def write(tmp_path, text: str):
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    name: s
    data: {num_frames: 8, input_size: 32}
    model: {preset: nano, patch_size: 8}
    sweep:
      pretrain.masking.ratio: [0.75, 0.9]
      pretrain.masking.strategy: [random, tube]
    seeds: [0, 1, 2]
"""


def test_grid_times_seeds_gives_validated_trials(tmp_path):
    spec = load_study(write(tmp_path, GOOD))
    trials = expand_trials(spec)
    assert len(trials) == 12
    combos = {(t.config.pretrain.masking.ratio, t.config.pretrain.masking.strategy, t.config.seed) for t in trials}
    assert len(combos) == 12
    assert len({t.trial_id for t in trials}) == 12
    # the trial id is a content hash: re-expanding gives the same ids
    assert [t.trial_id for t in expand_trials(spec)] == [t.trial_id for t in trials]


def test_every_bad_field_is_named_with_its_value(tmp_path):
    path = write(tmp_path, """
        name: s
        data: {num_frames: 8, input_size: 32, colour: red}
        model: {preset: nano, patch_size: eight}
        pretrain: {masking: {strategy: checkerboard, ratio: 1.5}, target: hogg}
        resources: {placement: diagonal, max_concurrent_trials: 0}
    """)
    with pytest.raises(UserInputError) as e:
        load_study(path)
    text = e.value.render()
    assert "resources.placement = 'diagonal'" in text and "'pack' or 'spread'" in text
    assert "resources.max_concurrent_trials = 0" in text
    assert "data.colour" in text
    assert "model.patch_size = 'eight'" in text
    assert "pretrain.masking.strategy = 'checkerboard'" in text and "tube" in text
    assert "pretrain.masking.ratio = 1.5" in text
    assert "pretrain.target = 'hogg'" in text and "normalized_pixel" in text
    assert len(e.value.problems) == 7


def test_sweep_typo_and_bad_values_fail_before_launch(tmp_path):
    spec = load_study(write(tmp_path, """
        name: s
        data: {num_frames: 8, input_size: 32}
        model: {preset: nano, patch_size: 8}
        sweep:
          pretrain.masking.ratoi: [0.5]
    """))
    with pytest.raises(UserInputError, match=r"pretrain.masking has no field 'ratoi'"):
        expand_trials(spec)
    spec = load_study(write(tmp_path, """
        name: s
        data: {num_frames: 8, input_size: 32}
        model: {preset: nano, patch_size: 8}
        sweep:
          pretrain.masking.ratio: [0.5, 0.99, 1.2]
    """))
    with pytest.raises(UserInputError) as e:
        expand_trials(spec)
    text = e.value.render()
    assert "pretrain.masking.ratio = 1.2" in text
    assert "ratio = 0.5" not in text and "ratio = 0.99" not in text  # valid points are not reported


def test_strategy_that_cannot_give_the_ratio_is_an_error(tmp_path):
    spec = load_study(write(tmp_path, """
        name: s
        data: {num_frames: 4, input_size: 16}
        model: {preset: nano, patch_size: 8}
        pretrain: {masking: {strategy: tube, ratio: 0.2}}
    """))
    with pytest.raises(UserInputError, match=r"pretrain.masking \(tube\): ratio 0.2 masks 0 of 8 tokens"):
        expand_trials(spec)


@pytest.mark.parametrize("masking,expected", [
    ("pretrain: {masking: {strategy: frame, ratio: 0.9}}", "must be one of 0.25, 0.5, 0.75 (got 0.9)"),
    ("pretrain: {masking: {strategy: cell_running, ratio: 0.5, cell: [1, 3, 3]}}", "cell [1, 3, 3] does not tile"),
    ("pretrain: {masking: {strategy: cell_running, ratio: 0.9}}", "cell masks k of 4 positions"),
    ("finetune: {masking: {strategy: keyframe, keep_rate: 1.5}}", "keep_rate must be in (0, 1] (got 1.5)"),
    ("finetune: {masking: {strategy: keyframe, drop_layers: [2, 7]}}", "drop_layers [7] are outside"),
    ("pretrain: {masking: {strategy: keyframe}}", "use it as finetune.masking"),
])
def test_strategy_options_are_checked_before_launch(tmp_path, masking, expected):
    spec = load_study(write(tmp_path, f"""
        name: s
        data: {{num_frames: 8, input_size: 32}}
        model: {{preset: nano, patch_size: 8}}
        {masking}
    """))
    with pytest.raises(UserInputError) as e:
        expand_trials(spec)
    assert expected in e.value.render()


def test_shapes_must_tile(tmp_path):
    spec = load_study(write(tmp_path, """
        name: s
        data: {num_frames: 7, input_size: 30}
        model: {preset: nano, patch_size: 8}
    """))
    with pytest.raises(UserInputError) as e:
        expand_trials(spec)
    assert "num_frames=7" in e.value.render() or "input_size=30" in e.value.render()


def test_cli_validate_prints_quickstart_trials():
    out = maskray("validate", str(REPO / "studies/quickstart.yaml"))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("t0")]
    assert len(lines) == 9                        # 2 strategies × 3 seeds + 3 from scratch
    assert "(+ 3 from-scratch control)" in out.stdout and sum("scratch" in line for line in lines) == 3
    assert "pretrain.masking.strategy" in out.stdout


def test_cli_bad_study_exits_2_and_names_fields(tmp_path):
    path = write(tmp_path, """
        name: s
        pretrain: {masking: {strategy: nope, ratio: -1}}
        resources: {workers_per_trial: zero}
    """)
    for command in ("validate", "run"):
        out = maskray(command, str(path), cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        assert "pretrain.masking.strategy = 'nope'" in out.stderr
        assert "resources.workers_per_trial = 'zero'" in out.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "maskray_results").exists()


def test_missing_study_file_exits_2(tmp_path):
    out = maskray("validate", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_paper_preset_merges_over_the_laptop_study():
    from tests.conftest import REPO
    spec = load_study(REPO / "studies" / "quickstart.yaml", preset="paper")
    trials = expand_trials(spec)
    assert spec.name == "quickstart-paper" and len(trials) == 9
    cfg = trials[0].config
    assert cfg.model.preset == "base" and cfg.token_grid == (8, 14, 14)
    assert cfg.model.decoder_dim is None         # the laptop's small decoder does not leak into ViT-B
    assert cfg.pretrain.epochs == 800 and cfg.pretrain.masking.strategy in ("random", "tube")
    assert spec.resources.gpus_per_worker == 1
    with pytest.raises(UserInputError, match="--preset 'huge': the study defines paper"):
        load_study(REPO / "studies" / "quickstart.yaml", preset="huge")


@pytest.mark.parametrize("study", sorted(p.name for p in (REPO / "studies").glob("*.yaml")))
def test_every_shipped_study_expands_at_both_scales(study):
    """A study file in studies/ that no longer validates (a renamed field, a stale preset) is
    found here, not by a user's `maskray run`; every laptop study has its control and its
    reference arm among its trials."""
    laptop = load_study(REPO / "studies" / study)
    trials = expand_trials(laptop)
    assert len({t.config.seed for t in trials}) == len(laptop.seeds) >= 2
    assert laptop.control and any(not t.config.pretrain.enabled for t in trials)
    assert any(not t.control and all(t.axes[k] == v for k, v in laptop.reference.items()) for t in trials)
    paper = load_study(REPO / "studies" / study, preset="paper")       # raises if the study has none
    assert len(expand_trials(paper)) == len(trials) and paper.name == f"{laptop.name}-paper"


def test_random_search_draws_distinct_points_reproducibly(tmp_path):
    text = """
        name: s
        data: {num_frames: 8, input_size: 32}
        model: {preset: nano, patch_size: 8}
        sweep:
          pretrain.masking.ratio: [0.5, 0.75, 0.9]
          pretrain.masking.strategy: [random, tube]
        seeds: [0, 1]
        search: {kind: random, num_samples: 3, seed: 7}
    """
    first = expand_trials(load_study(write(tmp_path, text)))
    again = expand_trials(load_study(write(tmp_path, text)))
    points = {(t.axes["pretrain.masking.ratio"], t.axes["pretrain.masking.strategy"]) for t in first}
    assert len(first) == 6 and len(points) == 3
    assert [t.trial_id for t in first] == [t.trial_id for t in again]
    with pytest.raises(UserInputError, match="only 6 combinations"):
        expand_trials(load_study(write(tmp_path, text.replace("num_samples: 3", "num_samples: 9"))))


def test_scheduler_metric_is_checked(tmp_path):
    with pytest.raises(UserInputError, match="scheduler.metric"):
        load_study(write(tmp_path, """
            name: s
            scheduler: {kind: asha, metric: finetune/accuracy}
        """))


def test_asha_spans_both_stages_epochs(tmp_path):
    from orchestrator.search import scheduler
    spec = load_study(write(tmp_path, """
        name: s
        data: {num_frames: 8, input_size: 32}
        model: {preset: nano, patch_size: 8}
        pretrain: {epochs: 3}
        finetune: {epochs: 5}
        scheduler: {kind: asha, metric: pretrain/knn_top1, grace_period: 2}
    """))
    asha = scheduler(spec, expand_trials(spec))
    assert type(asha).__name__ == "AsyncHyperBandScheduler"
    assert (asha._max_t, asha._metric, asha._mode) == (9, "pretrain/knn_top1", "max")   # one past the last epoch


def test_reading_a_study_does_not_import_torch():
    """`maskray validate` answers without torch, Ray or MLflow (seconds, not tens of seconds)."""
    import subprocess
    import sys
    code = ("import sys; from orchestrator.study import expand_trials, load_study; "
            "expand_trials(load_study('studies/quickstart.yaml')); "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_section_axis_merges_partial_sections(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(textwrap.dedent("""
        name: s
        pretrain: {epochs: 3}
        finetune: {epochs: 4, head: bridging}
        sweep:
          finetune:
            - {}
            - {masking: {strategy: cell_running, ratio: 0.5}, mae_loss_weight: 0.1}
    """))
    full, masked = expand_trials(load_study(study))
    assert full.config.finetune.masking is None and full.config.finetune.mae_loss_weight == 0
    assert masked.config.finetune.masking.strategy == "cell_running" and masked.config.finetune.mae_loss_weight == 0.1
    assert masked.config.finetune.epochs == 4 and masked.config.finetune.head == "bridging"   # the rest is kept
    study.write_text(study.read_text().replace("- {}", "- {mae_loss_weight: 0.1}"))
    with pytest.raises(UserInputError, match="needs masked fine-tuning"):
        expand_trials(load_study(study))


def test_control_adds_one_from_scratch_trial_per_fine_tuning_setting_and_seed(tmp_path):
    spec = load_study(write(tmp_path, GOOD + """
    control: true
    """))
    trials = expand_trials(spec)
    controls = [t for t in trials if t.control]
    assert len(trials) == 12 + 3 and len(controls) == 3               # the pretraining axes collapse
    assert all(not t.config.pretrain.enabled for t in controls)
    assert sorted(t.config.seed for t in controls) == [0, 1, 2]
    assert all(t.axes["pretrain.masking.ratio"] == "scratch" for t in controls)
    assert [t.key for t in trials[-3:]] == ["t012", "t013", "t014"]
    # a fine-tuning axis keeps one control per value
    spec = load_study(write(tmp_path, GOOD.replace("pretrain.masking.strategy: [random, tube]",
                                                   "finetune.base_lr: [1.0e-3, 2.0e-3]") + "    control: true\n"))
    assert sum(t.control for t in expand_trials(spec)) == 2 * 3


@pytest.mark.parametrize("extra,expected", [
    ("reference: {pretrain.masking.ratio: 0.75}", "missing ['pretrain.masking.strategy']"),
    ("reference: {pretrain.masking.ratio: 0.5, pretrain.masking.strategy: tube}", "are not values of their axes"),
    ("reference: {finetune.epochs: 2, pretrain.masking.ratio: 0.75, pretrain.masking.strategy: tube}",
     "['finetune.epochs'] are not axes of the sweep"),
    ("control: true\n    search: {kind: optuna, num_samples: 2}\n    seeds: [0]", "needs a grid or random search"),
])
def test_reference_and_control_are_checked(tmp_path, extra, expected):
    text = GOOD + f"    {extra}\n"
    if "seeds: [0]" in extra:
        text = text.replace("    seeds: [0, 1, 2]\n", "")
    with pytest.raises(UserInputError) as e:
        load_study(write(tmp_path, text))
    assert expected in str(e.value)
