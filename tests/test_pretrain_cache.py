"""The pretraining cache key: shared by trials that differ only in fine-tuning, different
whenever anything that shapes the encoder differs."""
import textwrap

from orchestrator.pretrain_cache import pretrain_key
from orchestrator.study import expand_trials, load_study
from trainables.fingerprint import code_fingerprint, file_digest

STUDY = """
    name: cache
    data: {source: lists, root: data, num_classes: 4, num_frames: 4, input_size: 32}
    model: {preset: nano, patch_size: 8}
    pretrain: {epochs: 1, masking: {strategy: tube, ratio: 0.75}}
    finetune: {epochs: 1}
    sweep:
      pretrain.masking.ratio: [0.75, 0.5]
      finetune.base_lr: [1.0e-3, 2.0e-3]
    seeds: [0, 1]
"""


def test_key_is_shared_across_finetuning_axes_only(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(textwrap.dedent(STUDY))
    lists = {}
    for split in ("train", "val", "test"):
        lists[split] = str(tmp_path / f"{split}.csv")
        (tmp_path / f"{split}.csv").write_text(f"a.mp4 {len(split)}\n")
    code = code_fingerprint()

    def digests():
        return {split: file_digest(path) for split, path in lists.items()}
    trials = expand_trials(load_study(study))
    keys = {}
    for t in trials:
        key = pretrain_key(t.config.model_dump(mode="json"), 2, digests(), code)
        keys.setdefault(key, set()).add((t.axes["pretrain.masking.ratio"], t.axes["seed"]))
    assert len(trials) == 8 and len(keys) == 4                 # 2 ratios × 2 seeds
    assert all(len(group) == 1 for group in keys.values())     # each key: one ratio and one seed

    config = trials[0].config.model_dump(mode="json")
    key = pretrain_key(config, 2, digests(), code)
    assert pretrain_key(config, 1, digests(), code) != key          # DDP world size changes the batches
    assert pretrain_key(config, 2, digests(), "other-code") != key
    (tmp_path / "train.csv").write_text("b.mp4 0\n")
    assert pretrain_key(config, 2, digests(), code) != key          # a changed list
    assert pretrain_key(config | {"pretrain": config["pretrain"] | {"enabled": False}}, 2, digests(), code) is None
