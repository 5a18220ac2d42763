"""Spatial LoRAs of the dual-path recipe (MotionDirector, kept by the paper).

During training they sit on the spatial transformers' attention and absorb the reference clips'
appearance from single frames (motion LoRA at scale 0), so the motion LoRA does not have to;
they are discarded before the adapter is saved and never used at inference.
"""

from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from peft import LoraConfig

from motionlora.motion.lora import inject_lora, remove_lora

SPATIAL_ADAPTER = "spatial"
SPATIAL_LEAVES = tuple(f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0"))


def spatial_lora_targets(unet: torch.nn.Module) -> list[str]:
    """The attention linears of every spatial transformer (Transformer2DModel) in the UNet."""
    targets = []
    for name, module in unet.named_modules():
        if isinstance(module, Transformer2DModel):
            for i, _ in enumerate(module.transformer_blocks):
                targets.extend(f"{name}.transformer_blocks.{i}.{leaf}" for leaf in SPATIAL_LEAVES)
    if not targets:
        raise ValueError(f"{type(unet).__name__} has no spatial Transformer2DModel to put spatial LoRAs on")
    return targets


def apply_spatial_lora(unet: torch.nn.Module, rank: int = 16, alpha: float | None = None, dropout: float = 0.0) -> LoraConfig:
    """Inject spatial LoRAs (trainable, adapter name `spatial`)."""
    return inject_lora(
        unet, spatial_lora_targets(unet), SPATIAL_ADAPTER, rank, float(alpha if alpha is not None else rank), dropout
    )


def discard_spatial_lora(unet: torch.nn.Module) -> int:
    """Remove the spatial LoRAs, restoring the spatial transformers' base linears; returns how many."""
    return remove_lora(unet, SPATIAL_ADAPTER)
