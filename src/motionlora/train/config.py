"""`TrainConfig`: every setting of a training run, from the `train` section of a recipe.

Frozen and checked on construction, so a bad value fails before any model is loaded; the whole
resolved config is logged to MLflow and stored with every checkpoint, so a resumed run can refuse
settings that would change what the remaining steps compute.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from motionlora.motion.highway import HIGHWAY_SCOPES
from motionlora.motion.tap import DEFAULT_PRESET, PRESETS

LR_SCHEDULES = ("constant", "linear", "cosine")
MIXED_PRECISIONS = ("no", "bf16", "fp16")

# Settings a resumed run may change: they decide how long to run, what to record or how much memory a
# step takes, not what it computes (`model` may move: the checkpoint's base-model hashes are checked).
RESUMABLE_CHANGES = frozenset(
    {"model", "steps", "gradient_checkpointing", "fold_spatial_lora", "torch_compile", "checkpoint_every", "keep_checkpoints", "validation_prompts", "validation_every",
     "validation_sampling_steps", "validation_guidance", "validation_seed", "log_every", "debug_check_sync",
     "highway_scope", "highway_beta", "pli_tau"}
)


@dataclass(frozen=True)
class TrainConfig:
    """How to train a motion adapter. See the README's training table for each key's meaning."""

    model: str | None = None
    preset: str = DEFAULT_PRESET
    rank: int = 16
    alpha: float | None = None
    dropout: float = 0.0
    spatial_rank: int | None = None
    learning_rate: float = 5e-4
    spatial_learning_rate: float = 5e-4
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    steps: int = 400
    batch_size: int = 1
    gradient_accumulation: int = 1
    dual_path: bool = True
    ad_loss: bool = False
    ad_beta: float = 1.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    fold_spatial_lora: bool = True
    torch_compile: bool = False
    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    validation_prompts: tuple[str, ...] = ()
    validation_every: int = 100
    validation_sampling_steps: int = 25
    validation_guidance: float = 7.5
    validation_seed: int = 0
    log_every: int = 1
    highway_scope: str = "all"
    highway_beta: float = 1.1
    pli_tau: int | None = None
    debug_check_sync: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"preset {self.preset!r} is not one of {sorted(PRESETS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule {self.lr_schedule!r} is not one of {list(LR_SCHEDULES)}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            problems.append(f"mixed_precision {self.mixed_precision!r} is not one of {list(MIXED_PRECISIONS)}")
        if self.highway_scope not in HIGHWAY_SCOPES:
            problems.append(f"highway_scope {self.highway_scope!r} is not one of {list(HIGHWAY_SCOPES)}")
        for key in ("rank", "steps", "batch_size", "gradient_accumulation", "checkpoint_every", "keep_checkpoints",
                    "validation_every", "validation_sampling_steps", "log_every"):
            if getattr(self, key) < 1:
                problems.append(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.spatial_rank is not None and self.spatial_rank < 1:
            problems.append(f"spatial_rank must be >= 1, got {self.spatial_rank}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        for key, value in self.to_dict().items():
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{key} must be a finite number, got {value}")
        for key in ("learning_rate", "spatial_learning_rate"):
            if getattr(self, key) <= 0:
                problems.append(f"{key} must be > 0, got {getattr(self, key)}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            problems.append(f"max_grad_norm must be > 0 or null, got {self.max_grad_norm}")
        if problems:
            raise ValueError("train config: " + "; ".join(problems))

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
