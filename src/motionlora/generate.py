"""Sampling videos from a T2V model with or without a motion adapter.

motionlora owns this loop (prompt encoding, DDIM / DPM-Solver++ over diffusers schedulers, CFG, VAE
decode) because diffusers' TextToVideoSDPipeline is deprecated and the appearance highway (AH) and
phased LoRA integration (PLI) act inside the loop. With no adapter, AH off and PLI off it computes
what the stock pipeline computes.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from motionlora.models.backbone import text_condition
from motionlora.models.encoders import encode_prompts, vae_scale_factor
from motionlora.models.loading import T2VModel
from motionlora.motion.highway import HIGHWAY_SCOPES, appearance_highway
from motionlora.motion.lora import lora_modules, lora_scale, set_lora_enabled
from motionlora.motion.tap import MOTION_ADAPTER

SCHEDULERS = {"ddim": DDIMScheduler, "dpm++": DPMSolverMultistepScheduler}


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample one video.

    `pli_tau`: phased LoRA integration — the adapter (and AH) act only at timesteps t > τ (the
    early, high-noise steps that lay out motion); later steps use the base model. None = all steps.
    `width`/`height` default to the UNet's native sample size. `adapter=False` samples the base
    model (no motion LoRA, no AH) even when an adapter is loaded, e.g. for a same-seed comparison.
    `compile`: `torch.compile` the UNet in place on first use. The same output within float
    rounding and 1.6x faster per video on 2 CPU cores (shapes model, benchmarks/RESULTS.md), after a
    one-off compile of 1-2 minutes: worth it when one process samples many videos, not for one.
    """

    steps: int = 25
    guidance_scale: float = 7.5
    frames: int = 16
    width: int | None = None
    height: int | None = None
    scheduler: str = "ddim"
    negative_prompt: str = ""
    highway: str = "off"
    beta: float = 1.0
    pli_tau: int | None = None
    lora_scale: float = 1.0
    decode_chunk: int = 8
    adapter: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler {self.scheduler!r} is not one of {sorted(SCHEDULERS)}")
        if self.highway not in HIGHWAY_SCOPES:
            raise ValueError(f"highway {self.highway!r} is not one of {list(HIGHWAY_SCOPES)}")
        if self.steps < 1 or self.frames < 1:
            raise ValueError(f"steps and frames must be >= 1, got steps={self.steps} frames={self.frames}")


_COMPILED: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


def compile_once(unet: torch.nn.Module) -> None:
    """`torch.compile` the UNet's forward in place, once per module however often it is asked."""
    if unet not in _COMPILED:
        unet.compile()
        _COMPILED.add(unet)


@torch.no_grad()
def decode_latents(model: T2VModel, latents: torch.Tensor, chunk: int = 8) -> np.ndarray:
    """(1, C, F, h, w) latents → uint8 frames (F, H, W, 3)."""
    _, channels, frames, h, w = latents.shape
    flat = latents[0].permute(1, 0, 2, 3).reshape(frames, channels, h, w) / model.vae.config.scaling_factor
    images = torch.cat([model.vae.decode(flat[i : i + chunk].to(model.vae.dtype)).sample for i in range(0, frames, chunk)])
    images = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return images.permute(0, 2, 3, 1).cpu().numpy()


def _adapted_phase(timestep: int, config: SamplingConfig) -> bool:
    return config.adapter and (config.pli_tau is None or timestep > config.pli_tau)


@torch.no_grad()
def sample_latents(model: T2VModel, prompt: str, config: SamplingConfig = SamplingConfig(), seed: int = 0, progress: bool = False) -> torch.Tensor:
    """Run the denoising loop for `prompt`; final latents (1, C, F, h, w). Deterministic for a fixed seed."""
    unet = model.unet
    device, dtype = unet.device, unet.dtype
    scale = vae_scale_factor(model.vae)
    native = unet.config.sample_size * scale
    width, height = config.width or native, config.height or native
    if width % scale or height % scale:
        raise ValueError(f"size {width}x{height} must be a multiple of the VAE's downscale factor {scale}")
    scheduler = SCHEDULERS[config.scheduler].from_config(model.scheduler.config)
    scheduler.set_timesteps(config.steps, device=device)
    if config.compile:
        compile_once(unet)

    use_cfg = config.guidance_scale > 1.0
    prompts = [config.negative_prompt, prompt] if use_cfg else [prompt]
    text = text_condition(unet, encode_prompts(model.tokenizer, model.text_encoder, prompts).to(device, dtype), config.frames)
    generator = torch.Generator("cpu").manual_seed(seed)
    shape = (1, unet.config.in_channels, config.frames, height // scale, width // scale)
    latents = (torch.randn(shape, generator=generator) * scheduler.init_noise_sigma).to(device, dtype)

    has_adapter = bool(lora_modules(unet, MOTION_ADAPTER))
    with ExitStack() as stack:
        if has_adapter:
            stack.enter_context(lora_scale(unet, MOTION_ADAPTER, config.lora_scale))
            stack.callback(set_lora_enabled, unet, MOTION_ADAPTER, True)
        for t in tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False):
            adapted = _adapted_phase(int(t), config)
            if has_adapter:
                set_lora_enabled(unet, MOTION_ADAPTER, adapted)
            model_input = scheduler.scale_model_input(torch.cat([latents] * len(prompts)), t)
            with appearance_highway(unet, config.highway if adapted else "off", config.beta):
                noise = unet(model_input, t, encoder_hidden_states=text).sample
            if use_cfg:
                uncond, cond = noise.chunk(2)
                noise = uncond + config.guidance_scale * (cond - uncond)
            latents = scheduler.step(noise, t, latents).prev_sample
    return latents


def generate_video(model: T2VModel, prompt: str, config: SamplingConfig = SamplingConfig(), seed: int = 0, progress: bool = False) -> np.ndarray:
    """Sample one video for `prompt`; uint8 frames (F, H, W, 3). Deterministic for a fixed seed."""
    return decode_latents(model, sample_latents(model, prompt, config, seed, progress), config.decode_chunk)
