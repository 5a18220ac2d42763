"""Load a text-to-video model's parts, identify its weights, and build a tiny one offline."""

from motionlora.models.identity import ModelIdentity, identify_model
from motionlora.models.loading import T2VModel, load_t2v_model, resolve_model_dir
from motionlora.models.tiny import TinyModelSpec, build_tiny_model

__all__ = [
    "ModelIdentity",
    "T2VModel",
    "TinyModelSpec",
    "build_tiny_model",
    "identify_model",
    "load_t2v_model",
    "resolve_model_dir",
]
