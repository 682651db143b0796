"""`search: optuna`: Optuna's TPE picks points of the validated sweep; each pick becomes
that point's trial (a repeated pick its own trial), and it learns from finished trials."""
import textwrap

import pytest

from orchestrator.errors import UserInputError
from orchestrator.study import expand_trials, load_study

STUDY = """
    name: o
    data: {num_frames: 8, input_size: 32}
    model: {preset: nano, patch_size: 8}
    pretrain: {masking: {strategy: tube, ratio: 0.75}}
    sweep:
      pretrain.masking.ratio: [0.5, 0.75, 0.9]
      pretrain.masking.strategy: [random, tube]
    search: {kind: optuna, num_samples: 14, seed: 3}
"""


def test_optuna_picks_validated_points_and_learns(tmp_path):
    from ray.tune.search import Searcher

    from orchestrator.search import tune_search
    study = tmp_path / "o.yaml"
    study.write_text(textwrap.dedent(STUDY))
    spec = load_study(study)
    trials = expand_trials(spec)
    assert len(trials) == 6                                   # every point validated up front
    params = [{"key": t.key, "trial_id": t.trial_id, "axes": t.axes} for t in trials]
    space, searcher, num_samples = tune_search(spec, params)
    assert num_samples == 14
    searcher.set_search_properties(None, None, space)
    keys, picks = set(), []
    for i in range(14):
        config = searcher.suggest(f"trial{i}")
        assert config is not None and config != Searcher.FINISHED
        trial = config["trial"]
        assert trial["key"] not in keys                        # a repeated point is a trial of its own
        keys.add(trial["key"])
        axes = trial["axes"]
        picks.append((axes["pretrain.masking.strategy"], axes["pretrain.masking.ratio"]))
        top1 = 50.0 if picks[-1] == ("tube", 0.9) else 10.0   # one point is clearly best
        searcher.on_trial_result(f"trial{i}", {"pretrain/loss": 1.0, "training_iteration": 1})   # no metric yet
        searcher.on_trial_complete(f"trial{i}", {"finetune/top1": top1, "training_iteration": 2})
    assert picks[7:].count(("tube", 0.9)) >= 3                 # TPE exploits what it learned


def test_optuna_runs_one_seed_and_needs_samples(tmp_path):
    study = tmp_path / "o.yaml"
    study.write_text(textwrap.dedent(STUDY).replace("num_samples: 14, ", "") + "seeds: [0, 1]\n")
    with pytest.raises(UserInputError) as e:
        load_study(study)
    text = e.value.render()
    assert "needs search.num_samples" in text and "give one seed" not in text   # field errors first
    study.write_text(textwrap.dedent(STUDY) + "seeds: [0, 1]\n")
    with pytest.raises(UserInputError, match="give one seed"):
        load_study(study)
