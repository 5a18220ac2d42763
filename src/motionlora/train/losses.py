"""The training objective: DDPM noising with the base model's own betas, the regression target its
`prediction_type` names, MSE, MotionDirector's appearance-debiased temporal loss, and the
frame-difference loss of the `tap-qk-motion` preset.

The random draws of a training sample (timestep, noise, frames) come from a generator seeded per
sample, not from a global RNG, so what a sample sees does not depend on which rank trains it or on
whether the run was resumed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def training_scheduler(scheduler_config: Mapping[str, Any]) -> DDPMScheduler:
    """A DDPM scheduler with the base model's betas and prediction type (its sampler config may be DDIM)."""
    scheduler = DDPMScheduler.from_config(scheduler_config)
    if scheduler.config.prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"the base model's scheduler has prediction_type {scheduler.config.prediction_type!r}; "
            f"the trainer supports {list(PREDICTION_TYPES)}"
        )
    return scheduler


@dataclass(frozen=True)
class NoiseDraw:
    """Per-sample randomness of one micro-batch (first dimension: the samples).

    `anchor` is the frame the appearance-debiased loss subtracts; `frame` is the single frame the
    spatial path trains on, with its own `spatial_timesteps` and `spatial_noise`.
    """

    timesteps: torch.Tensor
    noise: torch.Tensor
    anchor: torch.Tensor
    frame: torch.Tensor
    spatial_timesteps: torch.Tensor
    spatial_noise: torch.Tensor

    def to(self, device: torch.device) -> "NoiseDraw":
        return NoiseDraw(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))


def draw_noise(seeds: Sequence[int], latent_shape: Sequence[int], num_train_timesteps: int) -> NoiseDraw:
    """Draw every sample's timesteps, noise and frames from its own seed (always all fields, so the
    draw does not depend on which losses are switched on)."""
    channels, frames, height, width = latent_shape
    rows = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        rows.append((
            torch.randint(0, num_train_timesteps, (), generator=gen),
            torch.randn((channels, frames, height, width), generator=gen),
            torch.randint(0, frames, (), generator=gen),
            torch.randint(0, frames, (), generator=gen),
            torch.randint(0, num_train_timesteps, (), generator=gen),
            torch.randn((channels, 1, height, width), generator=gen),
        ))
    return NoiseDraw(*(torch.stack(column) for column in zip(*rows)))


def prediction_target(scheduler: DDPMScheduler | DDIMScheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet must predict for `latents` noised with `noise` at `timesteps`: the noise, the
    velocity or the clean latents, as the scheduler's `prediction_type` says (the motion-LoRA trainer
    and the shapes world's pretraining both train on it)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    return latents


def diffusion_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in float32 (whatever the autocast dtype of the prediction)."""
    return F.mse_loss(prediction.float(), target.float())


def appearance_debiased_loss(prediction: torch.Tensor, target: torch.Tensor, anchor: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """MotionDirector's AD loss: MSE after subtracting β × an anchor frame from every frame.

    With α = sqrt(β² + 1), both prediction and target become α·x − β·x[anchor]; what all frames
    share (appearance) cancels, what differs between frames (motion) remains.
    """
    alpha = math.sqrt(beta * beta + 1.0)
    rows = torch.arange(prediction.shape[0], device=prediction.device)
    pred_anchor = prediction[rows, :, anchor.to(prediction.device)].unsqueeze(2)
    target_anchor = target[rows, :, anchor.to(target.device)].unsqueeze(2)
    return diffusion_loss(alpha * prediction - beta * pred_anchor, alpha * target - beta * target_anchor)


def frame_difference_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the frame-to-frame differences (x[f+1] − x[f]) of prediction and target.

    A prediction off by the same amount in every frame — a wrong but static look — costs nothing;
    only errors in how the clip changes over time do. Needs at least two frames (dim 2).
    """
    if prediction.shape[2] < 2:
        raise ValueError(f"the frame-difference loss needs at least 2 frames, got {prediction.shape[2]}")
    return diffusion_loss(prediction.diff(dim=2), target.diff(dim=2))
