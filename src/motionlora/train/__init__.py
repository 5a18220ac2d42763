"""Training motion adapters: the dual-path recipe over preprocessed latents, data parallel under
torchrun, resumable from atomic checkpoints, tracked in MLflow.

The names are imported on first use (PEP 562): the trainer pulls in torch, diffusers and peft
(seconds), which the steps that only read a run's output (`outputs`) should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motionlora.train.config import TrainConfig
    from motionlora.train.loop import NonFiniteTrainingError, OutOfMemoryHintError, TrainResult, train
    from motionlora.train.step import Trainer

_HOMES = {
    "TrainConfig": "config",
    "NonFiniteTrainingError": "loop",
    "OutOfMemoryHintError": "loop",
    "TrainResult": "loop",
    "train": "loop",
    "Trainer": "step",
}

__all__ = ["NonFiniteTrainingError", "OutOfMemoryHintError", "TrainConfig", "TrainResult", "Trainer", "train"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
