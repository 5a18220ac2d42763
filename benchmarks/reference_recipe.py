"""The reference recipe's per-step work, re-implemented on our models for a fair speed comparison.

The reference is MotionDirector's training loop (showlab/MotionDirector `MotionDirector_train.py`
with `configs/config_multi_videos.yaml`, which the paper's released code keeps). Per step it:
* encodes the prompt with the text encoder (latents are cached: `cache_latents: True`);
* with probability 0.8 runs the spatial path — one random frame, spatial LoRA at scale 1,
  temporal LoRA at scale 0 (still computed, and still receiving zero gradients);
* runs the temporal path — the whole clip, LoRA (rank 32, dropout 0.1) on every temporal linear,
  spatial LoRA still trainable (its gradients from this path are computed and then discarded),
  MSE plus the appearance-debiased loss (β = 1, always on);
* with gradient checkpointing on (`gradient_checkpointing: True`).

This class does that work with the same diffusers/peft modules as our trainer, so a speed ratio
measures the recipes, not the libraries. Every difference from our trainer is a setting, so the
benchmark can remove them one at a time; with all of them matched, it computes what our trainer
computes (same noise, same losses).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from motionlora.models.encoders import encode_prompts
from motionlora.models.backbone import text_condition
from motionlora.motion.lora import lora_parameters, set_lora_enabled, set_lora_scale
from motionlora.motion.spatial import SPATIAL_ADAPTER, apply_spatial_lora
from motionlora.motion.presets import MOTION_ADAPTER
from motionlora.motion.tap import apply_motion_lora
from motionlora.train.losses import NoiseDraw, appearance_debiased_loss, diffusion_loss, prediction_target
from motionlora.train.step import enable_block_checkpointing


@dataclass(frozen=True)
class ReferenceSettings:
    """Defaults = the released recipe; each field is one thing our trainer does differently."""

    preset: str = "all"
    rank: int = 32
    dropout: float = 0.1
    gradient_checkpointing: bool = True
    encode_text_each_step: bool = True
    spatial_grads_in_temporal_path: bool = True
    temporal_lora_scale_zero: bool = True
    ad_loss: bool = True
    spatial_probability: float = 0.8
    learning_rate: float = 5e-4
    max_grad_norm: float = 1.0
    seed: int = 0


class ReferenceRecipe:
    """One MotionDirector-style optimizer step per `step(...)` call."""

    def __init__(self, model, noise_scheduler, settings: ReferenceSettings) -> None:
        self.model, self.noise_scheduler, self.settings = model, noise_scheduler, settings
        with torch.random.fork_rng():
            torch.manual_seed(settings.seed)
            apply_motion_lora(model.unet, settings.preset, settings.rank, dropout=settings.dropout)
            apply_spatial_lora(model.unet, settings.rank, dropout=settings.dropout)
        if settings.gradient_checkpointing:
            enable_block_checkpointing(model.unet)
        self.motion_params = lora_parameters(model.unet, MOTION_ADAPTER)
        self.spatial_params = lora_parameters(model.unet, SPATIAL_ADAPTER)
        self.optimizer = torch.optim.AdamW(
            [{"params": self.motion_params}, {"params": self.spatial_params}], lr=settings.learning_rate, weight_decay=0.0
        )
        self.coin = random.Random(settings.seed)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return encode_prompts(self.model.tokenizer, self.model.text_encoder, captions).float().cpu()

    def _prediction(self, latents: torch.Tensor, text: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor):
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        text = text_condition(self.model.unet, text, latents.shape[2])
        prediction = self.model.unet(noisy, timesteps, encoder_hidden_states=text).sample
        return prediction, prediction_target(self.noise_scheduler, latents, noise, timesteps)

    def _temporal_lora(self, on: bool) -> None:
        if self.settings.temporal_lora_scale_zero:
            set_lora_scale(self.model.unet, MOTION_ADAPTER, 1.0 if on else 0.0)
        else:
            set_lora_enabled(self.model.unet, MOTION_ADAPTER, on)
            for param in self.motion_params:
                param.requires_grad_(True)

    def step(self, latents: torch.Tensor, captions: list[str], noise: NoiseDraw, text: torch.Tensor | None = None) -> dict[str, float]:
        """One step on cached latents; `text` (cached embeddings) is used only when
        `encode_text_each_step` is off."""
        unet, settings = self.model.unet, self.settings
        unet.train()
        if settings.encode_text_each_step or text is None:
            text = self.encode_text(captions)
        spatial = 0.0
        if self.coin.random() < settings.spatial_probability:
            self._temporal_lora(False)
            rows = torch.arange(latents.shape[0])
            prediction, target = self._prediction(latents[rows, :, noise.frame].unsqueeze(2), text, noise.spatial_noise, noise.spatial_timesteps)
            loss_spatial = diffusion_loss(prediction, target)
            loss_spatial.backward()
            spatial = float(loss_spatial.detach())
        kept = [p.grad.clone() if p.grad is not None else None for p in self.spatial_params]
        self._temporal_lora(True)
        for param in self.spatial_params:
            param.requires_grad_(settings.spatial_grads_in_temporal_path)
        prediction, target = self._prediction(latents, text, noise.noise, noise.timesteps)
        loss_temporal = diffusion_loss(prediction, target)
        total = loss_temporal + appearance_debiased_loss(prediction, target, noise.anchor) if settings.ad_loss else loss_temporal
        total.backward()
        for param, grad in zip(self.spatial_params, kept):
            param.requires_grad_(True)
            param.grad = grad
        for group in self.optimizer.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], settings.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss_mse": float(loss_temporal.detach()), "loss_spatial": spatial}
