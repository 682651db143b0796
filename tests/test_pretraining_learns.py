"""The regression test that masked pretraining works at all: on clips whose hidden tokens
are predictable from the visible ones (a static grating background: a hidden token has
copies at the same place in other frames; a square that moves in a straight line), 1500
steps of the nano autoencoder (random 0.5, separable positions) bring the loss on hidden
tokens well below the loss of predicting zero, on the training clips and on clips it never
saw, and it logs its reconstruction picture. Measured here: train 0.2, held-out 0.18 × the
floor. With 24 or 160 training clips instead of 320 the training loss falls (0.80, 0.85) but
the held-out loss does not (1.06, 1.07): it memorizes instead of learning to copy — hence
the 320 clips.

And the regression test that what it learns is about the clips' classes: the quickstart's own
pretraining recipe, shortened to 40 epochs, lifts the motion k-NN probe over the same encoder
at its random initialisation."""
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.launch import prepare_data
from orchestrator.study import Trial, expand_trials, load_study
from trainables.config import TrialConfig
from trainables.data.clips import ClipDataset
from trainables.data.lists import read_list
from trainables.data.synth import write_h264
from trainables.loops.pretrain import pretrain
from trainables.loops.session import LocalSession
from trainables.loops.worker import start_worker
from trainables.mask_picture import reconstruct
from trainables.models.build import build_autoencoder
from trainables.tracking import KNN_MOTION_TOP1, PRETRAIN_LOSS_FLOOR, RECONSTRUCTION_FOLDER

QUICKSTART = Path(__file__).parents[1] / "studies" / "quickstart.yaml"

SIZE, FRAMES = 32, 8
LEARNED = 0.5    # loss over predicting zero's: 1.0 untrained


def grating_clip(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    angle, period, phase = rng.uniform(0, np.pi), rng.uniform(8, 16), rng.uniform(0, 2 * np.pi)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
    low, high = rng.uniform(0.1, 0.4, 3), rng.uniform(0.6, 0.9, 3)
    background = low + (high - low) * wave[..., None]
    start, step = rng.uniform(4, 20, 2), rng.uniform(-1.5, 1.5, 2)
    color = rng.uniform(0, 1, 3)
    out = np.empty((FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    for f in range(FRAMES):
        frame = background.copy()
        x, y = (start + f * step).astype(int)
        frame[max(y, 0):y + 8, max(x, 0):x + 8] = color
        out[f] = (frame * 255).round()
    return out


@pytest.mark.slow
def test_pretraining_predicts_hidden_tokens_better_than_zero(tmp_path):
    from mlflow.tracking import MlflowClient
    rng = np.random.default_rng(0)
    (tmp_path / "videos").mkdir()
    for split, n in (("train", 320), ("val", 4), ("test", 4)):
        lines = []
        for i in range(n):
            write_h264(tmp_path / "videos" / f"{split}{i}.mp4", grating_clip(rng), gop=FRAMES)
            lines.append(f"videos/{split}{i}.mp4 {i % 2}")
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("learns")).info.run_id
    cfg = TrialConfig.model_validate({
        "data": {"source": "lists", "root": str(tmp_path), "num_classes": 2, "num_frames": FRAMES,
                 "sampling_rate": 1, "input_size": SIZE, "short_side_scale": 1.0, "loader_workers": 0,
                 "cache_decoded_videos": True},
        "model": {"preset": "nano", "patch_size": 8, "positions": "sincos_3d", "decoder_dim": 64, "decoder_depth": 2},
        "pretrain": {"epochs": 75, "batch_size": 16, "base_lr": 2.4e-2, "warmup_epochs": 2, "knn_every": 0,
                     "masking": {"strategy": "random", "ratio": 0.5}}})
    splits = {s: read_list(tmp_path / f"{s}.csv", 2) for s in ("train", "val", "test")}
    torch.manual_seed(0)
    w = start_worker({"tracking_uri": uri, "run_id": run_id}, 1, 0, "fp32", LocalSession())
    weights, record = pretrain(cfg, splits, w, None)
    first, last = record["epochs"][0], record["epochs"][-1]
    assert first["pretrain/loss_vs_floor"] > 0.95                       # it starts at predicting zero
    assert last["pretrain/loss_vs_floor"] < LEARNED, [e["pretrain/loss_vs_floor"] for e in record["epochs"][::10]]
    assert 0.9 < last[PRETRAIN_LOSS_FLOOR] < 1.0                        # per-token normalized targets

    model = build_autoencoder(cfg)                                      # and on clips it never saw
    model.load_state_dict(weights)
    held_out = ClipDataset(splits["val"] + splits["test"], cfg.data, False, 0, cfg.token_grid, cfg.pretrain.masking)
    ratios = [reconstruct(model, s["clip"], s["mask"], "normalized_pixel", 2, 8)["loss_ratio"]
              for s in (held_out.samples(i)[0] for i in range(len(held_out)))]
    assert np.mean(ratios) < LEARNED, ratios
    pictures = [a.path for a in client.list_artifacts(run_id, RECONSTRUCTION_FOLDER)]
    assert pictures == [f"{RECONSTRUCTION_FOLDER}/pretrain_reconstruction.png"]


@pytest.mark.slow
def test_the_quickstart_pretraining_lifts_the_motion_probe_over_random_init(tmp_path):
    """Tube 0.9 on the quickstart's synthetic-actions, 40 of its 60 epochs (1120 steps), probes
    on its 96 val clips. Measured here, seeds 0-3 (2026-12-06): motion k-NN +16.7 / +12.5 /
    +24.0 / +13.5 points over random init (45.8-55.2 → 62.5-74.0 %); the linear probe +20.8 /
    -2.1 / +24.0 / +19.8, so it is not the one asserted; mean-pooled k-NN -5 to +2 (it cannot
    see time order). Seed 0 must gain 6 points (6 clips), half the smallest gain measured."""
    trial = next(t for t in expand_trials(load_study(QUICKSTART))
                 if t.axes == {"pretrain.masking.strategy": "tube", "seed": 0})
    config = trial.config.model_dump()
    config["pretrain"].update(epochs=40, knn_every=40)
    config["data"]["root"] = str(tmp_path / "synth")
    config["data"]["synth"]["test_clips_per_class"] = 2
    cfg = TrialConfig.model_validate(config)
    lists = prepare_data([Trial(0, trial.axes, cfg)])[cfg.data.root]
    splits = {s: read_list(path, cfg.data.classes) for s, path in lists.items()}
    assert (len(splits["train"]), len(splits["val"])) == (448, 96)     # the quickstart's splits

    torch.manual_seed(0)
    w = start_worker({}, 1, cfg.seed, "fp32", LocalSession())
    _, record = pretrain(cfg, splits, w, None)
    at_init, last = record["model"][KNN_MOTION_TOP1], record["epochs"][-1]
    assert last["pretrain/loss_vs_floor"] < 0.998
    assert last[KNN_MOTION_TOP1] >= at_init + 6.0, (at_init, last[KNN_MOTION_TOP1])
