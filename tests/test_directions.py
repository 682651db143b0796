"""The papers' findings checked on a study's arms (dashboards/directions.py): which arms a
finding pairs, and its verdict, on arms whose per-clip results are known."""
import numpy as np
import pandas as pd

from dashboards.arms import Arm
from dashboards.directions import checked_directions

STRATEGY, RATIO = "pretrain.masking.strategy", "pretrain.masking.ratio"


def arm(axes: dict, correct: np.ndarray, control: bool = False) -> Arm:
    """An arm with per-seed correctness rows over clips c0, c1, …"""
    clips = [f"c{i}" for i in range(correct.shape[1])]
    return Arm(axes, {seed: pd.Series(row.astype(int), index=clips) for seed, row in enumerate(correct)}, control)


def rows(found: pd.DataFrame, paper: str) -> pd.DataFrame:
    return found[found["paper"] == paper]


def test_each_finding_pairs_arms_that_differ_only_as_it_says():
    rng = np.random.default_rng(0)
    base = rng.random((2, 400)) < 0.5
    arms = [arm({RATIO: r, STRATEGY: s}, base) for s in ("tube", "random") for r in (0.5, 0.9)]
    arms.append(arm({RATIO: 0.9, STRATEGY: "tube"}, base, control=True))
    found = checked_directions(arms, pd.DataFrame())
    videomae = rows(found, "VideoMAE")
    tube_vs_random = videomae[videomae["finding"].str.startswith("tube ≥ random")]
    assert list(zip(tube_vs_random["A"], tube_vs_random["B"])) == [("ratio=0.9 strategy=tube", "ratio=0.9 strategy=random")]
    ratio = videomae[videomae["finding"] == "mask ratio 0.9 ≥ 0.5"]
    assert sorted(zip(ratio["A"], ratio["B"])) == [("ratio=0.9 strategy=random", "ratio=0.5 strategy=random"),
                                                   ("ratio=0.9 strategy=tube", "ratio=0.5 strategy=tube")]
    assert set(found["verdict"]) == {"not separated"}      # identical results: nothing separates
    assert (found["over"] == "2 seeds × 400 clips, paired").all()
    assert rows(found, "MGM").empty and rows(found, "EVAD").empty   # no such arms in this study


def test_verdicts_follow_the_interval_and_the_margin():
    rng = np.random.default_rng(1)
    wrong = rng.random((3, 500)) < 0.2
    better = checked_directions([arm({STRATEGY: "motion_guided"}, ~wrong), arm({STRATEGY: "tube"}, wrong)],
                                pd.DataFrame())
    assert list(better["verdict"]) == ["reproduced"]
    worse = checked_directions([arm({STRATEGY: "motion_guided"}, wrong), arm({STRATEGY: "tube"}, ~wrong)],
                               pd.DataFrame())
    assert list(worse["verdict"]) == ["contradicted"]
    # EVAD's "within 1 point": identical arms are within it (Δ = 0 > −1) ...
    same = rng.random((2, 500)) < 0.6
    keep = "finetune.masking.keep_rate"
    evad = checked_directions([arm({keep: 0.7}, same), arm({keep: 1.0}, same)], pd.DataFrame())
    assert list(evad["verdict"]) == ["reproduced"] and evad["margin"].iloc[0] == -1.0
    # ... and 10 points fewer right is not
    fewer = same.copy()
    fewer[:, :50] = False
    fewer[:, 50:100] = False
    lower = checked_directions([arm({keep: 0.7}, fewer), arm({keep: 1.0}, same | (np.arange(500) < 100))],
                               pd.DataFrame())
    assert list(lower["verdict"]) == ["contradicted"]


def test_mars_margin_is_five_percent_of_full_fine_tunings_top1():
    full = np.zeros((2, 400), dtype=bool)
    full[:, :200] = True                        # 50 % top-1: the margin is −2.5 points
    masked = full.copy()
    masked[:, :4] = False                       # 1 point lower: kept ≥ 95 %
    found = checked_directions([arm({"finetune": {"masking": {"strategy": "cell_running", "ratio": 0.5}},
                                     "finetune.head": "bridging"}, masked),
                                arm({"finetune": {}, "finetune.head": "linear"}, full)], pd.DataFrame())
    assert list(found["margin"]) == [-2.5] and list(found["verdict"]) == ["reproduced"]


def test_control_trials_of_a_fine_tuning_axis_are_their_own_arm(tmp_path):
    """evad_dropout sweeps a fine-tuning field: its from-scratch trials keep that field's
    value, and must not be grouped into the pretrained arm with the same value."""
    from mlflow.tracking import MlflowClient
    from dashboards.arms import CONTROL_ARM, load_arms
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment("s", artifact_location=str(tmp_path / "artifacts"))
    rows = []
    for arm, correct in (("pretrained", 1), (CONTROL_ARM, 0)):
        run_id = client.create_run(experiment).info.run_id
        (tmp_path / "test.csv").write_text("clip,label,prediction,correct\n" + "".join(
            f"c{i},0,{1 - correct},{correct}\n" for i in range(5)))
        client.log_artifact(run_id, str(tmp_path / "test.csv"), "predictions")
        client.set_terminated(run_id)
        rows.append({"run_id": run_id, "status": "FINISHED", "arm": arm, "seed": 0,
                     "finetune.masking.keep_rate": 1.0})
    arms = load_arms(uri, pd.DataFrame(rows), ["finetune.masking.keep_rate"])
    assert [(a.control, int(a.correct[0].sum())) for a in arms] == [(False, 5), (True, 0)]
