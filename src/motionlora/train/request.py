"""`TrainRequest`: one training run as typed values, the same whoever asks for it.

The `motionlora train` command parses its arguments into one, the pipeline's train step builds one
from its parameters, and the launchers (`motionlora.launch`) carry it to wherever training runs:
as a call in this process, or as the command's arguments (`train.commands.train_argv`) where a
process boundary (torchrun, a TrainJob's nodes) needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from motionlora.tracking import TrackingOptions
from motionlora.train.config import TrainConfig


@dataclass(frozen=True)
class TrainRequest:
    """config: every training setting, resolved (recipe and overrides applied);
    data: the preprocessed folder (index.json + shards);
    out: the run folder (checkpoints/, adapter/, train_summary.json), from whose newest checkpoint
        training resumes, so every attempt of a run must name the same one;
    model: the base model, overriding `config.model` without changing the recorded config;
    tracking: where the MLflow run is recorded."""

    config: TrainConfig
    data: str
    out: str
    model: str | None = None
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
