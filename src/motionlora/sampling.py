"""`SamplingConfig`: how one video is sampled, the one set of sampling settings that generate,
evaluation, training validation and the MLflow model share, and `sampling_config`, the one rule
that resolves them. Plain settings, readable without torch (registration records them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Protocol, Sequence

from pydantic import Field

from motionlora.config import load_config, one_of, settings_class
from motionlora.motion.highway_settings import BETA_MEANING, SCOPE_MEANING, HighwayScope, HighwaySettings

# The samplers by name; `generate.SCHEDULER_CLASSES` maps each to its diffusers scheduler.
SCHEDULERS = ("ddim", "dpm++")


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
