"""The method: where motion LoRAs go (TAP), spatial LoRAs for dual-path training, the appearance
highway (AH), and saving/loading adapters."""

from motionlora.motion.adapter import AdapterMismatchError, MotionAdapterInfo, load_motion_adapter, save_motion_adapter
from motionlora.motion.highway import HIGHWAY_SCOPES, appearance_highway, highway_layers
from motionlora.motion.lora import lora_enabled, lora_modules, lora_scale
from motionlora.motion.spatial import SPATIAL_ADAPTER, apply_spatial_lora, discard_spatial_lora, spatial_lora_targets
from motionlora.motion.tap import MOTION_ADAPTER, PRESETS, apply_motion_lora, motion_lora_targets

__all__ = [
    "HIGHWAY_SCOPES",
    "MOTION_ADAPTER",
    "PRESETS",
    "SPATIAL_ADAPTER",
    "AdapterMismatchError",
    "MotionAdapterInfo",
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
