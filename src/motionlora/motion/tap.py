"""TAP, temporal attention purification: motion LoRA only on the temporal-attention projections
that shape attention, never on Value, so the pretrained Value embeddings are re-assembled into the
new motion instead of learning the reference clips' appearance.

A preset names the linears the motion LoRA goes on and the objective it is trained with. All but
one train on the base model's diffusion loss; `tap-qk-motion` (our addition, beyond the paper)
trains the TAP Q/K LoRA on frame differences only (`train.losses.frame_difference_loss`): what
every frame shares — the references' look — is not in its loss at all, so it has nothing to gain
from learning it, and the whole gradient goes to how the clip changes over time.
"""

from __future__ import annotations

import torch
from peft import LoraConfig

from motionlora.models.backbone import TEMPORAL_MODULES
from motionlora.motion.lora import inject_lora
from motionlora.motion.presets import DEFAULT_PRESET, MOTION_ADAPTER, PRESETS


def temporal_transformers(unet: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Every temporal transformer, by name: UNet3D's `transformer_in` and the temporal transformers
    of its down, mid and up blocks, or AnimateDiff's motion modules."""
    found = {name: m for name, m in unet.named_modules() if isinstance(m, TEMPORAL_MODULES)}
    if not found:
        raise ValueError(f"{type(unet).__name__} has no temporal transformer: not a UNet3D or AnimateDiff video UNet")
    return found


def motion_lora_targets(unet: torch.nn.Module, preset: str = DEFAULT_PRESET) -> list[str]:
    """Fully qualified names of the linears the preset puts the motion LoRA on."""
    if preset not in PRESETS:
        raise ValueError(f"unknown motion LoRA preset {preset!r}; valid presets: {sorted(PRESETS)}")
    targets = []
    for name, temporal in temporal_transformers(unet).items():
        for i, _ in enumerate(temporal.transformer_blocks):
            targets.extend(f"{name}.transformer_blocks.{i}.{leaf}" for leaf in PRESETS[preset].targets)
    return targets


def apply_motion_lora(
    unet: torch.nn.Module, preset: str = DEFAULT_PRESET, rank: int = 16, alpha: float | None = None, dropout: float = 0.0
) -> LoraConfig:
    """Inject the motion LoRA per `preset`; afterwards only LoRA weights require grad.

    `alpha` defaults to `rank` (update scale 1).
    """
    targets = motion_lora_targets(unet, preset)
    unet.requires_grad_(False)
    return inject_lora(unet, targets, MOTION_ADAPTER, rank, float(alpha if alpha is not None else rank), dropout)
