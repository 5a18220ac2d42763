"""Load a text-to-video model's parts and identify its weights.

The names are imported on first use (PEP 562): loading pulls in diffusers and torch (seconds),
which steps that only hash a model folder (`identity`) should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motionlora.models.identity import ModelIdentity, identify_model
    from motionlora.models.loading import T2VModel, load_t2v_model, pick_device
    from motionlora.models.location import resolve_model_dir

_HOMES = {
    "ModelIdentity": "identity",
    "identify_model": "identity",
    "T2VModel": "loading",
    "load_t2v_model": "loading",
    "pick_device": "loading",
    "resolve_model_dir": "location",
}

__all__ = ["ModelIdentity", "T2VModel", "identify_model", "load_t2v_model", "pick_device", "resolve_model_dir"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
