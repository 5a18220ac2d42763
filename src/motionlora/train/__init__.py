"""Training motion adapters: the dual-path recipe over preprocessed latents, data parallel under
torchrun, resumable from atomic checkpoints, tracked in MLflow."""

from motionlora.train.config import TrainConfig
from motionlora.train.loop import NonFiniteTrainingError, OutOfMemoryHintError, TrainResult, train
from motionlora.train.step import Trainer

__all__ = ["NonFiniteTrainingError", "OutOfMemoryHintError", "TrainConfig", "TrainResult", "Trainer", "train"]
