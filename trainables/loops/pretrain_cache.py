"""The pretraining cache, worker side: publishing a finished pretraining to the trial's
MLflow run, and starting a trial from one published by another run. The driver side (the
key, and which trial pretrains it) is orchestrator/pretrain_cache.py."""
from __future__ import annotations

import json
import os
import tempfile

from trainables.data.clips import ClipDataset
from trainables.loops.worker import Worker, report
from trainables.mask_picture import log_mask_picture, log_reconstruction
from trainables.models.build import build_autoencoder
from trainables.tracking import PRETRAIN_DONE_TAG, Stage

FOLDER = "pretrain"
WEIGHTS_FILE = "autoencoder.safetensors"
RECORD_FILE = "record.json"


def publish(weights: dict, record: dict, w: Worker) -> None:
    """Rank 0: the autoencoder's weights (encoder and decoders) and the stage's metrics as
    artifacts, then the tag that makes them findable (set last, so a reader never sees half
    an upload)."""
    if not w.is_main:
        return
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, os.path.join(tmp, WEIGHTS_FILE))
        with open(os.path.join(tmp, RECORD_FILE), "w") as f:
            json.dump(record, f)
        for name in (WEIGHTS_FILE, RECORD_FILE):
            w.log.artifact(os.path.join(tmp, name), FOLDER)
    w.log.tag(PRETRAIN_DONE_TAG, "1")


def reuse(cfg, splits: dict, w: Worker, tracking_uri: str, run_id: str, reused_from: str) -> dict:
    """Every rank: the published autoencoder of run `run_id`; its pretraining metrics are
    reported again epoch by epoch, so this trial's run and Tune's iteration count match a
    trial that pretrained itself. → the autoencoder's state dict."""
    from mlflow.tracking import MlflowClient
    from safetensors.torch import load_file
    with tempfile.TemporaryDirectory() as tmp:
        local = MlflowClient(tracking_uri).download_artifacts(run_id, FOLDER, tmp)
        weights = load_file(os.path.join(local, WEIGHTS_FILE))
        with open(os.path.join(local, RECORD_FILE)) as f:
            record = json.load(f)
    if w.is_main:
        w.log.metrics(record["model"], step=0)
        dataset = ClipDataset(splits["train"], cfg.data, train=True, seed=cfg.seed, token_grid=cfg.token_grid,
                              masking=cfg.pretrain.masking)
        log_mask_picture(dataset, cfg, w.log, Stage.PRETRAIN)
        autoencoder = build_autoencoder(cfg)
        autoencoder.load_state_dict(weights)
        log_reconstruction(autoencoder, cfg, splits["val"], w.log)
    for i, metrics in enumerate(record["epochs"]):
        last = i == len(record["epochs"]) - 1
        # The last report carries the weights, so a restarted worker group does not replay twice.
        report({**metrics, "reused_from": reused_from}, {"stage": Stage.PRETRAIN_REUSED.value, "pretrained": weights} if last else None, w)
    return weights
