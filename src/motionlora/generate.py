"""Sampling videos from a T2V model with or without a motion adapter.

motionlora owns this loop (prompt encoding, DDIM / DPM-Solver++ over diffusers schedulers, CFG, VAE
decode) because diffusers' TextToVideoSDPipeline is deprecated and the appearance highway (AH) and
phased LoRA integration (PLI) act inside the loop. With no adapter, AH off and PLI off it computes
what the stock pipeline computes.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from motionlora.models.backbone import text_condition
from motionlora.models.encoders import encode_prompts, vae_scale_factor
from motionlora.models.loading import T2VModel
from motionlora.motion.highway import appearance_highway
from motionlora.motion.highway_settings import HighwaySettings
from motionlora.motion.lora import lora_modules, lora_scale, set_lora_enabled
from motionlora.motion.presets import MOTION_ADAPTER
from motionlora.sampling import SamplingConfig

# The diffusers scheduler of each of sampling.SCHEDULERS.
SCHEDULER_CLASSES = {"ddim": DDIMScheduler, "dpm++": DPMSolverMultistepScheduler}
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
    scheduler = SCHEDULER_CLASSES[config.scheduler].from_config(model.scheduler.config)
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
        enabled = None  # switched only when PLI's phase changes: each switch walks the UNet's modules
        for t in tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False):
            adapted = _adapted_phase(int(t), config)
            if has_adapter and adapted != enabled:
                set_lora_enabled(unet, MOTION_ADAPTER, adapted)
                enabled = adapted
            model_input = scheduler.scale_model_input(torch.cat([latents] * len(prompts)), t)
            with appearance_highway(unet, config.highway_settings if adapted else HighwaySettings("off")):
                noise = unet(model_input, t, encoder_hidden_states=text).sample
            if use_cfg:
                uncond, cond = noise.chunk(2)
                noise = uncond + config.guidance_scale * (cond - uncond)
            latents = scheduler.step(noise, t, latents).prev_sample
    return latents


def generate_video(model: T2VModel, prompt: str, config: SamplingConfig = SamplingConfig(), seed: int = 0, progress: bool = False) -> np.ndarray:
    """Sample one video for `prompt`; uint8 frames (F, H, W, 3). Deterministic for a fixed seed."""
    return decode_latents(model, sample_latents(model, prompt, config, seed, progress), config.decode_chunk)
