"""The two UNet backbones motionlora supports and the few places where they differ.

* `UNet3DConditionModel` (ModelScope T2V, ZeroScope): temporal transformers without frame positions.
* `UNetMotionModel` (AnimateDiff): motion modules with sinusoidal frame positions; the caller
  repeats the prompt embeddings once per frame.

Both run `resnet -> spatial transformer -> temporal module` per down-block layer and take latents
shaped (B, C, F, H, W), so TAP, the appearance highway, the sampler and the trainer treat them alike.
"""

from __future__ import annotations

import torch
from diffusers import UNet3DConditionModel, UNetMotionModel
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.models.unets.unet_3d_blocks import CrossAttnDownBlock3D
from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D, CrossAttnDownBlockMotion

UNET_CLASSES = {cls.__name__: cls for cls in (UNet3DConditionModel, UNetMotionModel)}
TEMPORAL_MODULES = (TransformerTemporalModel, AnimateDiffTransformer3D)
CROSS_ATTENTION_DOWN_BLOCKS = (CrossAttnDownBlock3D, CrossAttnDownBlockMotion)


def unet_class(class_name: str) -> type:
    """The diffusers class for a UNet config's `_class_name`, or a clear error."""
    if class_name not in UNET_CLASSES:
        raise ValueError(f"unsupported UNet class {class_name!r}; motionlora supports {sorted(UNET_CLASSES)}")
    return UNET_CLASSES[class_name]


def text_condition(unet: torch.nn.Module, text: torch.Tensor, frames: int) -> torch.Tensor:
    """Prompt embeddings (B, L, D) in the layout `unet` expects: repeated per frame for AnimateDiff."""
    if isinstance(unet, UNetMotionModel):
        return text.repeat_interleave(frames, dim=0)
    return text
