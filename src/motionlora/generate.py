"""Sampling videos from a T2V model with or without a motion adapter.

motionlora owns this loop (prompt encoding, DDIM / DPM-Solver++ over diffusers schedulers, CFG, VAE
decode) because diffusers' TextToVideoSDPipeline is deprecated and the appearance highway (AH) and
phased LoRA integration (PLI) act inside the loop. With no adapter, AH off and PLI off it computes
what the stock pipeline computes.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Protocol, Sequence

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from pydantic import Field
from tqdm.auto import tqdm

from motionlora.config import load_config, one_of, settings_class
from motionlora.models.backbone import text_condition
from motionlora.models.encoders import encode_prompts, vae_scale_factor
from motionlora.models.loading import T2VModel
from motionlora.motion.highway import BETA_MEANING, SCOPE_MEANING, HighwayScope, HighwaySettings, appearance_highway
from motionlora.motion.lora import lora_modules, lora_scale, set_lora_enabled
from motionlora.motion.tap import MOTION_ADAPTER

SCHEDULERS = {"ddim": DDIMScheduler, "dpm++": DPMSolverMultistepScheduler}


@settings_class
class SamplingConfig:
    """How to sample one video: the `sampling` section of a recipe (see `sampling_config`)."""

    steps: int = Field(25, ge=1, description="denoising steps")
    guidance_scale: float = Field(7.5, description="classifier-free guidance scale (1 turns CFG off)")
    frames: int = Field(16, ge=1, description="frames per video")
    width: int | None = Field(None, ge=1, description="output width in pixels, a multiple of the VAE's downscale factor; "
                              "null = the UNet's native size")
    height: int | None = Field(None, ge=1, description="output height in pixels, as `width`")
    scheduler: Annotated[str, one_of(SCHEDULERS)] = Field(
        "ddim", description="`ddim` or `dpm++` (DPM-Solver++ multistep), both from the base model's scheduler config")
    negative_prompt: str = Field("", description="the unconditional prompt for CFG")
    highway: HighwayScope = Field("off", description=f"{SCOPE_MEANING}; a loaded adapter brings its own (motion.json)")
    beta: float = Field(HighwaySettings().beta, description=f"{BETA_MEANING}; a loaded adapter brings its own")
    pli_tau: int | None = Field(None, ge=0, description="phased LoRA integration: the adapter and AH act only at timesteps "
                                "t > τ (0–1000), the early, high-noise steps that lay out motion; later steps use the base "
                                "model. null = every step; a loaded adapter brings its own")
    lora_scale: float = Field(1.0, description="scale of the motion-LoRA update")
    decode_chunk: int = Field(8, ge=1, description="frames decoded by the VAE at once (memory)")
    adapter: bool = Field(True, description="false samples the base model (no motion LoRA, no AH) even when an adapter "
                          "is loaded, e.g. for a same-seed comparison")
    compile: bool = Field(False, description="`torch.compile` the UNet before the first video: same output within float "
                          "rounding, 1.44× the stock pipeline per video on 2 CPU cores (benchmarks/RESULTS.md), after a "
                          "one-off compile (17 s with a warm inductor cache, about 2 min cold); for processes that sample "
                          "many videos")

    @property
    def highway_settings(self) -> HighwaySettings:
        """`highway` and `beta` as the one value `appearance_highway` takes."""
        return HighwaySettings(self.highway, self.beta)


class AdapterSampling(Protocol):
    """How an adapter asks to be sampled: its motion.json (`MotionAdapterInfo`), or during training
    the `TrainConfig` that will write it."""

    @property
    def highway_settings(self) -> HighwaySettings: ...

    @property
    def pli_tau(self) -> int | None: ...


def sampling_config(recipe: str | Path | None = None, overrides: Sequence[str] = (), adapter: AdapterSampling | None = None,
                    **settings: Any) -> SamplingConfig:
    """The sampling settings of generate, evaluate, training validation and the pyfunc model, in one
    order: built-in defaults < the `sampling` section of `recipe` with `overrides` (`key=value`) <
    the adapter's highway and PLI τ < `settings` (a command's flags, a caller's params)."""
    own = {}
    if adapter is not None:
        highway = adapter.highway_settings
        own = {"highway": highway.scope, "beta": highway.beta, "pli_tau": adapter.pli_tau}
    return load_config(SamplingConfig, recipe, "sampling", overrides, {**own, **settings})


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
