"""`TrainConfig`: every setting of a training run, from the `train` section of a recipe.

Frozen and checked on construction, so a bad value fails before any model is loaded; the whole
resolved config is logged to MLflow and stored with every checkpoint, so a resumed run can refuse
settings that would change what the remaining steps compute.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import Field

from motionlora.config import one_of, settings_class
from motionlora.motion.highway_settings import BETA_MEANING, SCOPE_MEANING, HighwayScope, HighwaySettings
from motionlora.motion.presets import DEFAULT_PRESET, PRESETS
from motionlora.train.schedule import Schedule

# Settings a resumed run may change: they decide how long to run, what to record or how much memory a
# step takes, not what it computes (`model` may move: the checkpoint's base-model hashes are checked).
RESUMABLE_CHANGES = frozenset(
    {"model", "steps", "gradient_checkpointing", "fold_spatial_lora", "torch_compile", "checkpoint_every", "keep_checkpoints", "validation_prompts", "validation_every",
     "validation_sampling_steps", "validation_guidance", "validation_seed", "log_every", "debug_check_sync",
     "highway_scope", "highway_beta", "pli_tau"}
)


@settings_class
class TrainConfig:
    """How to train a motion adapter: the `train` section of a recipe."""

    model: str | None = Field(None, description="base model (`--model` overrides)")
    preset: Annotated[str, one_of(PRESETS)] = Field(
        DEFAULT_PRESET, description="motion LoRA preset: `all`, `reference`, `tap-k`, `tap-qk`, `tap-qk-motion` (see \"Adapters\")")
    rank: int = Field(16, ge=1, description="motion LoRA rank")
    alpha: float | None = Field(None, description="motion LoRA alpha (the update is scaled by alpha / rank); null = `rank`")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the input of the motion and spatial LoRAs")
    spatial_rank: int | None = Field(None, ge=1, description="spatial LoRA rank; null = `rank`")
    learning_rate: float = Field(5e-4, gt=0, description="AdamW learning rate of the motion LoRA")
    spatial_learning_rate: float = Field(5e-4, gt=0, description="AdamW learning rate of the spatial LoRA")
    weight_decay: float = Field(0.0, description="AdamW weight decay")
    lr_schedule: Schedule = Field(
        "constant", description="learning-rate schedule after the warm-up: `constant`, `linear` or `cosine` decay to 0 at `steps`")
    warmup_steps: int = Field(0, ge=0, description="optimizer steps of linear learning-rate warm-up")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping per adapter; null = off")
    steps: int = Field(400, ge=1, description="optimizer steps")
    batch_size: int = Field(1, ge=1, description="clips per device per micro-step")
    gradient_accumulation: int = Field(1, ge=1, description="micro-steps per optimizer step")
    dual_path: bool = Field(True, description="a spatial LoRA trained on one random frame with the motion LoRA off "
                            "(MotionDirector); discarded at the end")
    ad_loss: bool = Field(False, description="add MotionDirector's appearance-debiased temporal loss")
    ad_beta: float = Field(1.0, description="β of the appearance-debiased loss: how much of an anchor frame is subtracted "
                           "from every frame")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field("no", description="`no`, `bf16`, `fp16` (GPU only; refused on CPU)")
    gradient_checkpointing: bool = Field(False, description="recompute each U-Net block's activations in backward")
    fold_spatial_lora: bool = Field(True, description="in the temporal path, fold the frozen spatial LoRA into float32 base "
                                    "weights instead of running its branch (same math up to rounding)")
    torch_compile: bool = Field(False, description="`torch.compile` the U-Net (compiles on the first steps; see "
                                "`benchmarks/RESULTS.md`)")
    seed: int = Field(0, description="LoRA initialisation, data order and noise")
    checkpoint_every: int = Field(100, ge=1, description="checkpoint interval in optimizer steps")
    keep_checkpoints: int = Field(2, ge=1, description="how many of the newest checkpoints to keep")
    validation_prompts: tuple[str, ...] = Field((), description="prompts sampled on rank 0 every `validation_every` steps "
                                                "and at the end; empty = no validation")
    validation_every: int = Field(100, ge=1, description="validation interval in optimizer steps")
    validation_sampling_steps: int = Field(25, ge=1, description="denoising steps of the validation videos")
    validation_guidance: float = Field(7.5, description="classifier-free guidance scale of the validation videos")
    validation_seed: int = Field(0, description="seed of the validation videos")
    log_every: int = Field(1, ge=1, description="metric logging interval in optimizer steps")
    highway_scope: HighwayScope = Field(HighwaySettings().scope, description=f"{SCOPE_MEANING}; recorded in motion.json "
                                        "as the adapter's default and used for validation")
    highway_beta: float = Field(HighwaySettings().beta, description=f"{BETA_MEANING}; recorded in motion.json as the "
                                "adapter's default and used for validation")
    pli_tau: int | None = Field(None, ge=0, description="phased LoRA integration τ (see `sampling`), recorded in motion.json "
                                "as the adapter's default and used for validation; null = every step")
    debug_check_sync: bool = Field(False, description="compare every rank's LoRA weights after each step; fail if they differ")

    @property
    def highway_settings(self) -> HighwaySettings:
        """The appearance highway the adapter will record, and validation samples with."""
        return HighwaySettings(self.highway_scope, self.highway_beta)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def incompatible_changes(saved: dict[str, Any], current: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Settings that differ between a checkpoint's config and `current` and would change the training math.

    batch_size and gradient_accumulation may trade against each other (e.g. after running out of
    memory): a step trains on the same samples as long as their product stays the same.
    """
    now = current.to_dict()
    same_batch = saved.get("batch_size", 0) * saved.get("gradient_accumulation", 0) == current.batch_size * current.gradient_accumulation
    flexible = RESUMABLE_CHANGES | ({"batch_size", "gradient_accumulation"} if same_batch else set())
    return {
        key: (saved.get(key), now.get(key))
        for key in sorted(set(saved) | set(now))
        if key not in flexible and saved.get(key) != now.get(key)
    }
