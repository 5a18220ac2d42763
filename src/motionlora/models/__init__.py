"""Load a text-to-video model's parts and identify its weights."""

from motionlora.models.identity import ModelIdentity, identify_model
from motionlora.models.loading import T2VModel, load_t2v_model, resolve_model_dir

__all__ = [
    "ModelIdentity",
    "T2VModel",
    "identify_model",
    "load_t2v_model",
    "resolve_model_dir",
]
