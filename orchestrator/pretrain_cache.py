"""The pretraining cache, driver side: one pretraining per distinct pretraining config;
trials that differ only in fine-tuning reuse the encoder of the first trial that pretrained
it. The worker side (publishing and replaying) is trainables/loops/pretrain_cache.py.

The cache lives in MLflow, so it works on any cluster that can reach the tracking server:
the pretraining trial logs `pretrain/autoencoder.safetensors` (encoder and decoders) and
`pretrain/record.json` (its per-epoch metrics) and tags its run `maskray.pretrain_done`; a
later trial with the same key downloads both, replays the metrics (so its run and Tune's iteration count look the
same as a pretraining trial's) and fine-tunes. The key hashes everything that decides the
encoder: the data, model and pretrain sections, the seed, the number of DDP workers, the
list files' contents and the source of `trainables/` (an edited loop never reuses an
encoder made by the old one). Within a study execution a small Ray actor hands out one
owner per key, so concurrent trials wait for the owner instead of pretraining twice."""
from __future__ import annotations

import time

from trainables import tracking
from trainables.fingerprint import config_hash
from trainables.tracking import PRETRAIN_DONE_TAG, PRETRAIN_KEY_TAG

POLL_S = 1.0   # while another trial of the study pretrains the same key: one MLflow query a second


def pretrain_key(config: dict, workers: int, list_digests: dict[str, str], code: str) -> str | None:
    """The cache key of a trial's pretraining (None when the trial does not pretrain);
    `list_digests`: split → content digest of its list file."""
    if not config["pretrain"]["enabled"]:
        return None
    return config_hash({"data": config["data"], "model": config["model"], "pretrain": config["pretrain"],
                        "seed": config["seed"], "workers": workers, "code": code,
                        "lists": list_digests}, 24)


def find_source(uri: str, experiment_id: str, key: str):
    """The earliest run of the experiment that finished pretraining with this key, or None."""
    runs = tracking.client(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{PRETRAIN_KEY_TAG}` = '{key}' and tags.`{PRETRAIN_DONE_TAG}` = '1'",
        max_results=1, order_by=["attributes.start_time ASC"])
    return runs[0] if runs else None


def start_claims(study_id: str):
    """The study's claim book: which trial pretrains which key right now."""
    import ray

    @ray.remote(num_cpus=0)
    class PretrainClaims:
        def __init__(self):
            self.owners: dict[str, str] = {}

        def claim(self, key: str, trial_id: str) -> bool:
            return self.owners.setdefault(key, trial_id) == trial_id

        def release(self, key: str, trial_id: str) -> None:
            if self.owners.get(key) == trial_id:
                del self.owners[key]

    return PretrainClaims.options(name=f"maskray-pretrain-claims-{study_id}").remote()


def acquire(claims, uri: str, experiment_id: str, key: str, trial_id: str):
    """→ the run to reuse, or None once this trial owns the key and must pretrain. Waits
    while another trial of the study is pretraining the same key."""
    import ray
    while True:
        source = find_source(uri, experiment_id, key)
        if source is not None:
            return source
        if claims is None or ray.get(claims.claim.remote(key, trial_id)):
            # Re-check: the previous owner may have finished between the two calls.
            return find_source(uri, experiment_id, key)
        time.sleep(POLL_S)


def release(claims, key: str, trial_id: str) -> None:
    if claims is not None:
        import ray
        ray.get(claims.release.remote(key, trial_id))
