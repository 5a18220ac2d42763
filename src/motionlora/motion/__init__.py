"""The method: where motion LoRAs go (TAP), spatial LoRAs for dual-path training, the appearance
highway (AH), and saving/loading adapters.

The names are imported on first use (PEP 562): most of them pull in torch and peft (seconds), which
the steps that only read an adapter's files (`adapter_info`, `presets`, `highway_settings`) should
not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motionlora.motion.adapter import AdapterMismatchError, load_motion_adapter, save_motion_adapter
    from motionlora.motion.adapter_info import MotionAdapterInfo
    from motionlora.motion.highway import appearance_highway, highway_layers
    from motionlora.motion.highway_settings import HIGHWAY_SCOPES
    from motionlora.motion.lora import lora_enabled, lora_modules, lora_scale
    from motionlora.motion.presets import MOTION_ADAPTER, PRESETS
    from motionlora.motion.spatial import SPATIAL_ADAPTER, apply_spatial_lora, discard_spatial_lora, spatial_lora_targets
    from motionlora.motion.tap import apply_motion_lora, motion_lora_targets

_HOMES = {
    "AdapterMismatchError": "adapter",
    "load_motion_adapter": "adapter",
    "save_motion_adapter": "adapter",
    "MotionAdapterInfo": "adapter_info",
    "appearance_highway": "highway",
    "highway_layers": "highway",
    "HIGHWAY_SCOPES": "highway_settings",
    "lora_enabled": "lora",
    "lora_modules": "lora",
    "lora_scale": "lora",
    "MOTION_ADAPTER": "presets",
    "PRESETS": "presets",
    "SPATIAL_ADAPTER": "spatial",
    "apply_spatial_lora": "spatial",
    "discard_spatial_lora": "spatial",
    "spatial_lora_targets": "spatial",
    "apply_motion_lora": "tap",
    "motion_lora_targets": "tap",
}

__all__ = [
    "AdapterMismatchError",
    "HIGHWAY_SCOPES",
    "MOTION_ADAPTER",
    "MotionAdapterInfo",
    "PRESETS",
    "SPATIAL_ADAPTER",
    "appearance_highway",
    "apply_motion_lora",
    "apply_spatial_lora",
    "discard_spatial_lora",
    "highway_layers",
    "load_motion_adapter",
    "lora_enabled",
    "lora_modules",
    "lora_scale",
    "motion_lora_targets",
    "save_motion_adapter",
    "spatial_lora_targets",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
