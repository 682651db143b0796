"""What one trial runs: the typed, validated trial config (and what MLflow records).

The data plane's own contract: every loop reads these sections. The study spec
(`orchestrator/spec.py`) is a `TrialSections` plus how to sweep, schedule, place and track it.
"""
from __future__ import annotations

from typing import Annotated, Callable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from trainables.data.classes import SYNTH_STYLES
from trainables.masking import get_strategy
from trainables.models.presets import PRESETS
from trainables.targets import get_target

MODEL_PRESETS = tuple(PRESETS)


def _registered(lookup: Callable[[str], object]) -> Callable[[str], str]:
    """A field validator that accepts the names a registry knows (its own error lists them)."""
    def check(name: str) -> str:
        try:
            lookup(name)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        return name
    return check


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SynthConfig(Strict):
    """How `synthetic-actions` is generated when it is missing (see `maskray data synth`)."""
    clips_per_class: int = Field(40, ge=3)
    # test clips per class in place of the 15 % split of clips_per_class: a test split large
    # enough to resolve the differences a study asks about (benchmarks/test_split_power.py)
    test_clips_per_class: int | None = Field(None, ge=1)
    style: Literal[SYNTH_STYLES] = Field("flat", description=(
        "flat: one colour for background and object, no noise (masked pretraining can learn it); "
        "textured: noisy, textured, sometimes panning (the datasets before 2026-12-06)"))
    size: int = Field(64, ge=16)
    frames: int = Field(16, ge=4)
    fps: int = Field(16, ge=1)
    seed: int = 0


class DataConfig(Strict):
    source: Literal["synthetic-actions", "lists"] = "synthetic-actions"
    root: str = "data/synthetic-actions"
    train_list: str = "train.csv"
    val_list: str = "val.csv"
    test_list: str = "test.csv"
    num_classes: int | None = Field(None, ge=2, description="required for source=lists")
    num_frames: int = Field(16, ge=2)
    sampling_rate: int = Field(4, ge=1)
    segment_sampling: bool = Field(False, description="SSv2-style: one frame per segment")
    input_size: int = Field(224, ge=8)
    short_side_scale: float = Field(1.15, ge=1.0, description="decode short side = scale × input_size")
    horizontal_flip: bool = Field(False, description="off by default: flips change direction labels")
    loader_workers: int = Field(2, ge=0)
    cache_decoded_videos: bool = Field(False, description=(
        "keep each decoded video in the loader's memory (small datasets, loader_workers: 0); "
        "frame sampling, crops and masks stay random per epoch"))
    repeated_aug: int = Field(1, ge=1, le=16, description=(
        "training clips cropped (and masked) this many times per decode, as VideoMAE's num_sample; "
        "a batch then holds batch_size × repeated_aug clips"))
    max_unreadable_fraction: float = Field(0.05, ge=0.0, le=1.0)
    synth: SynthConfig = SynthConfig()

    @model_validator(mode="after")
    def _lists_need_classes(self):
        if self.source == "lists" and self.num_classes is None:
            raise ValueError("num_classes is required when source is 'lists'")
        return self

    @property
    def classes(self) -> int:
        if self.source == "synthetic-actions":
            from trainables.data.classes import SYNTH_CLASSES
            return len(SYNTH_CLASSES)
        return self.num_classes


class ModelConfig(Strict):
    preset: Literal[MODEL_PRESETS] = "base"
    patch_size: int = Field(16, ge=2)
    tubelet_size: int = Field(2, ge=1)
    decoder_depth: int | None = Field(None, ge=1)
    decoder_dim: int | None = Field(None, ge=8)
    drop_path: float = Field(0.0, ge=0.0, lt=1.0)
    positions: Literal["sincos_1d", "sincos_3d"] = Field("sincos_1d", description=(
        "fixed position table: sincos_1d over the flattened (t, h, w) order (VideoMAE), or "
        "sincos_3d, separable over t, h and w (learns much sooner at laptop scale)"))
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description=(
        "auto: bf16 autocast on GPUs, fp32 on CPUs (where bf16 is usually slower)"))
    compile: bool = Field(False, description="torch.compile the model (long warm-up; pays off on GPUs)")


class MaskingConfig(Strict):
    """A masking strategy and its options; each strategy reads the options it knows."""
    strategy: Annotated[str, AfterValidator(_registered(get_strategy))] = "tube"
    ratio: float = Field(0.9, gt=0.0, lt=1.0, description="fraction of input tokens masked")
    # cell_running (MAR)
    cell: tuple[int, int, int] = Field((1, 2, 2), description="cell_running: cell size in (t, h, w) tokens")
    random_phase: bool = Field(True, description="cell_running: random phase per clip in training")
    shuffle_time: bool = Field(True, description="cell_running: shuffle the per-step patterns in training")
    # keyframe (EVAD)
    keep_rate: float = Field(0.7, description="keyframe: fraction of tokens kept at each dropping block")
    drop_layers: list[int] | None = Field(None, description="keyframe: 1-based blocks; default 1/3, 7/12, 5/6 of depth")
    enhanced_weight: float = Field(1.0, ge=0.0, description="keyframe: weight of the keyframe's queries")

    @field_validator("cell")
    @classmethod
    def _positive_cell(cls, v):
        if min(v) < 1:
            raise ValueError(f"cell sizes must be ≥ 1 (got {list(v)})")
        return v


class OptimConfig(Strict):
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(8, ge=1, description="per worker")
    base_lr: float = Field(1.5e-4, gt=0, description="lr = base_lr × global batch / 256")
    warmup_epochs: float = Field(0, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    min_lr: float = Field(1e-6, ge=0)


class RegressorConfig(Strict):
    depth: int = Field(2, ge=1, description="cross-attention blocks between encoder and decoders (MAM2)")


class TokenizerConfig(Strict):
    """The VQ tokenizer behind the `vq_codes` target, trained on the training split
    (`maskray data tokenizer`, or by `maskray run` before launch)."""
    codebook_size: int = Field(512, ge=2)
    code_dim: int = Field(32, ge=2)
    hidden: int = Field(256, ge=8)
    epochs: int = Field(8, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2e-3, gt=0)
    commitment: float = Field(0.25, ge=0)
    seed: int = 0


class PretrainConfig(OptimConfig):
    enabled: bool = True
    masking: MaskingConfig = MaskingConfig()
    target: Annotated[str, AfterValidator(_registered(get_target))] = "normalized_pixel"
    targets: dict[Annotated[str, AfterValidator(_registered(get_target))], float] | None = Field(
        None, description="several targets at once, name → loss weight, one decoder each (replaces target)")
    regressor: RegressorConfig | None = None
    tokenizer: TokenizerConfig = TokenizerConfig()
    knn_every: int = Field(1, ge=0, description=(
        "the probes (pretrain/knn_top1, knn_motion_top1, linear_top1) every N epochs and at the end (0: off)"))
    knn_k: int = Field(20, ge=1)
    knn_max_train: int = Field(10000, ge=1, description="train clips the probes learn from")

    @field_validator("targets")
    @classmethod
    def _weights(cls, v):
        if v is not None:
            if not v:
                raise ValueError("targets is empty; give at least one name: weight")
            negative = {k: w for k, w in v.items() if w < 0}
            if negative:
                raise ValueError(f"loss weights must be ≥ 0 (got {negative})")
            if all(w == 0 for w in v.values()):
                raise ValueError(f"loss weights are all zero ({v})")
        return v

    @property
    def loss_weights(self) -> dict[str, float]:
        """target → weight: `targets` when given, else `target` alone."""
        return dict(self.targets) if self.targets else {self.target: 1.0}


class FinetuneConfig(OptimConfig):
    base_lr: float = Field(1e-3, gt=0)
    layer_decay: float = Field(0.75, gt=0, le=1.0)
    label_smoothing: float = Field(0.1, ge=0, lt=1.0)
    head_dropout: float = Field(0.0, ge=0, lt=1.0)
    head: Literal["linear", "bridging"] = Field("linear", description=(
        "linear: mean pool → norm → linear (VideoMAE); bridging: MAR's Linear → blocks → pool → norm → linear"))
    bridge_dim: int = Field(512, ge=8)
    bridge_depth: int = Field(2, ge=1)
    bridge_heads: int = Field(4, ge=1)
    masking: MaskingConfig | None = Field(None, description=(
        "masked fine-tuning and evaluation (MAR: cell_running 0.5) or keyframe token dropout (EVAD)"))
    mae_loss_weight: float = Field(0.0, ge=0, description=(
        "MAR: with masked fine-tuning, the pretraining decoders keep reconstructing the masked tokens "
        "and their loss is added with this weight (MAR: 0.01 on K400, 0.1 on SSv2; 0: off)"))


class TrialSections(Strict):
    """The sections a study's base config and every trial share."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()


class TrialConfig(TrialSections):
    """One fully resolved trial; checked as a whole (shapes, strategy vs ratio)."""
    seed: int = 0

    @property
    def token_grid(self) -> tuple[int, int, int]:
        return (self.data.num_frames // self.model.tubelet_size,
                self.data.input_size // self.model.patch_size,
                self.data.input_size // self.model.patch_size)

    @model_validator(mode="after")
    def _shapes_and_ratio(self):
        d, m = self.data, self.model
        if d.num_frames % m.tubelet_size:
            raise ValueError(f"data.num_frames={d.num_frames} is not a multiple of model.tubelet_size={m.tubelet_size}")
        if d.input_size % m.patch_size:
            raise ValueError(f"data.input_size={d.input_size} is not a multiple of model.patch_size={m.patch_size}")
        depth = PRESETS[m.preset].depth
        problems = []
        for section in ("pretrain", "finetune"):
            masking = getattr(self, section).masking
            if masking is None:
                continue
            strategy = get_strategy(masking.strategy)
            if section == "pretrain" and strategy.in_encoder:
                problems.append(f"pretrain.masking.strategy={masking.strategy!r} drops tokens inside the "
                                f"encoder at fine-tuning; use it as finetune.masking")
                continue
            problems += [f"{section}.masking ({masking.strategy}): {p}"
                         for p in strategy.problems(masking, self.token_grid, depth)]
        f = self.finetune
        if f.mae_loss_weight > 0:
            if f.masking is None or get_strategy(f.masking.strategy).in_encoder:
                problems.append(f"finetune.mae_loss_weight={f.mae_loss_weight} needs masked fine-tuning "
                                f"(finetune.masking with a strategy that masks the input, e.g. cell_running)")
            if not self.pretrain.enabled:
                problems.append(f"finetune.mae_loss_weight={f.mae_loss_weight} needs pretraining "
                                f"(its decoders are the reconstruction branch)")
        if f.head == "bridging" and f.bridge_dim % f.bridge_heads:
            problems.append(f"finetune.bridge_dim={f.bridge_dim} is not a multiple of finetune.bridge_heads={f.bridge_heads}")
        if self.pretrain.enabled:
            for name in self.pretrain.loss_weights:
                problems += [f"pretrain.targets ({name}): {p}"
                             for p in get_target(name).problems(m.tubelet_size, m.patch_size)]
        if problems:
            raise ValueError("; ".join(problems))
        return self
