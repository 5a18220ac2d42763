"""`make bench-gpu`: the GPU benchmarks in one command, at the published model sizes with random weights.

    .venv/bin/python benchmarks/gpu.py [--models zeroscope animatediff] [--parts train sample ddp]
                                       [--peak-tflops T] [--ranks N] [--out FILE]
    .venv/bin/python benchmarks/gpu.py --tiny [--out FILE] [--threads 1]

Models, built in memory (nothing downloaded), weights random from seed 0:
* ZeroScope v2 576w's UNet3DConditionModel (`zeroscope_memory.ZEROSCOPE_UNET`, 1.4 B parameters)
  at 384x384 x 16 frames;
* AnimateDiff's UNetMotionModel: the SD1.5 UNet with the v1-5-2 motion modules, at 512x512 x 16 frames;
each with a CLIP text encoder of the published width and depth (over the byte-level tokenizer of the
tiny models), the SD VAE's layout and DDIM. On a GPU everything runs in bf16.

Parts, each a few timed steps; every result is printed as a table row when it is measured and
written when its part ends, so a run that is stopped keeps what it finished:
* train (per model): our recipe (`TrainConfig` defaults, mixed_precision=bf16, with and without
  gradient checkpointing) and the reference recipe as released (`reference_recipe.py`, under bf16
  autocast) take turns in this process (`train_vs_reference.timed_rounds`). Peak memory of each
  (weights, LoRA, optimizer, activations: the CUDA allocator's peak while it is built and warmed
  up) against `zeroscope_memory.estimate`; FLOPs per step of ours counted on the meta device
  (FlopCounterMode: forward and backward of both paths; checkpointing's recomputation is not
  counted) over the GPU's dense bf16 peak = MFU; minutes per concept = `TrainConfig().steps` x our
  step time with checkpointing (configs/zeroscope.yaml trains with it).
* sample (per model): `generate_video` against diffusers' TextToVideoSDPipeline / AnimateDiffPipeline
  on the same model, prompt, steps and starting noise, alternating; first the final latents of both
  are compared and must agree within the precision's tolerance, or the part fails.
* ddp: `torchrun` with every GPU (`--ranks`), NCCL, our trainer on ZeroScope; the LoRA weights are
  compared on all ranks through the process group after the timed steps (an all-reduce of the max
  and of the min), so one GPU still runs NCCL; with more than one, scaling over one GPU.

Records in benchmarks/results.json (`record.py`: machine and date with each): `gpu_train_speedup_vs_reference`,
`gpu_train_peak_memory_gb`, `gpu_train_mfu`, `gpu_train_minutes_per_concept` (value: ZeroScope, ours
with checkpointing), `gpu_sample_speedup_vs_diffusers` (value: ZeroScope), `nccl_identical_weights`
and, with several GPUs, `gpu_ddp_scaling`; the details hold every model and setting.

`--tiny`: the same code at tiny sizes on whatever device there is (float32 and gloo on the CPU);
it never writes results.json, only --out if given. Without a CUDA device and without --tiny the
script prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zeroscope_memory as memory  # noqa: E402
from ddp_scaling import step_runner  # noqa: E402
from record import machine, record  # noqa: E402
from reference_recipe import ReferenceRecipe, ReferenceSettings  # noqa: E402
from train_vs_reference import ladder_settings, timed_rounds  # noqa: E402

from motionlora.data.preprocess import PreprocessedDataset  # noqa: E402
from motionlora.models.encoders import encode_prompts  # noqa: E402
from motionlora.generate import generate_video, sample_latents  # noqa: E402
from motionlora.sampling import SamplingConfig  # noqa: E402
from motionlora.testing.stock import diffusers_pipeline  # noqa: E402
from motionlora.models import T2VModel  # noqa: E402
from motionlora.models.backbone import text_condition, unet_class  # noqa: E402
from motionlora.models.identity import ModelIdentity, architecture_hash  # noqa: E402
from motionlora.testing.tiny_model import TOKENIZER_MAX_LENGTH, _build_tokenizer, build_clip_text_encoder  # noqa: E402
from motionlora.motion.lora import lora_parameters, set_lora_enabled  # noqa: E402
from motionlora.motion.spatial import SPATIAL_ADAPTER  # noqa: E402
from motionlora.motion.presets import MOTION_ADAPTER  # noqa: E402
from motionlora.train.config import TrainConfig  # noqa: E402
from motionlora.train.distributed import DistContext, broadcast_parameters, init_distributed  # noqa: E402
from motionlora.train.losses import diffusion_loss, draw_noise, training_scheduler  # noqa: E402
from motionlora.train.step import MicroBatch, Trainer, add_training_adapters, precision_dtype  # noqa: E402

GIB = 2**30
SEED = 0
PROMPT = "a tiger is running in the snow"
MODELS = ("zeroscope", "animatediff")
PARTS = ("train", "sample", "ddp")
SKIP_LINE = ("bench-gpu skipped: no CUDA device is available (torch {torch}); "
             "`benchmarks/gpu.py --tiny` runs the same code at tiny sizes on the CPU")

# Dense bf16 tensor-core peaks (NVIDIA datasheets), TFLOPS; the first name contained in the device name wins.
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200 NVL", 835.5), ("H200", 989.4), ("H100 PCIe", 756.5), ("H100 NVL", 835.5), ("H100", 989.4),
    ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.05),
)

# The SD VAE (ZeroScope's and SD1.5's): 8x downscale.
SD_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
TINY_VAE: dict[str, Any] = {**SD_VAE, "block_out_channels": (8, 8, 8, 8), "layers_per_block": 1, "norm_num_groups": 4, "sample_size": 64}

# runwayml/stable-diffusion-v1-5 unet/config.json turned into a UNetMotionModel with
# guoyww/animatediff-motion-adapter-v1-5-2 (UNetMotionModel.from_unet2d).
ANIMATEDIFF_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlockMotion",) * 3 + ("DownBlockMotion",),
    "up_block_types": ("UpBlockMotion",) + ("CrossAttnUpBlockMotion",) * 3,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "cross_attention_dim": 768,
    "num_attention_heads": 8,
    "motion_num_attention_heads": 8,
    "motion_max_seq_length": 32,
    "use_motion_mid_block": True,
}
# Tiny stand-ins: two levels, so every block type (cross-attention and plain, down, mid, up) runs
# once per pass in as few ops as possible (a CPU step costs per op, not per FLOP).
TINY_UNET3D: dict[str, Any] = {
    **memory.TINY_UNET,
    "block_out_channels": (16, 32),
    "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"),
    "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D"),
}
TINY_ANIMATEDIFF_UNET: dict[str, Any] = {
    **ANIMATEDIFF_UNET,
    "sample_size": 8,
    "block_out_channels": (16, 32),
    "down_block_types": ("CrossAttnDownBlockMotion", "DownBlockMotion"),
    "up_block_types": ("UpBlockMotion", "CrossAttnUpBlockMotion"),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "cross_attention_dim": 32,
    "num_attention_heads": 2,
    "motion_num_attention_heads": 2,
}


@dataclass(frozen=True)
class ModelSpec:
    """A model to benchmark and its video size. `text`: the CLIP text encoder's (width, layers, heads);
    `estimated`: `zeroscope_memory.estimate` models this UNet (ZeroScope's published config)."""

    name: str
    label: str
    unet_class: str
    unet: dict[str, Any]
    text: tuple[int, int, int]
    vae: dict[str, Any]
    frames: int
    size: int
    estimated: bool = False

    @property
    def latent_size(self) -> int:
        return self.size // memory.VAE_SCALE

    @property
    def title(self) -> str:
        return f"{self.label}, {self.size}x{self.size} x {self.frames} frames"


FULL_SPECS = {
    "zeroscope": ModelSpec("zeroscope", "ZeroScope v2 576w UNet3D (random weights)", "UNet3DConditionModel",
                           memory.ZEROSCOPE_UNET, (1024, 23, 16), SD_VAE, 16, 384, estimated=True),
    "animatediff": ModelSpec("animatediff", "AnimateDiff UNetMotionModel, SD1.5 UNet + v1-5-2 motion modules (random weights)",
                             "UNetMotionModel", ANIMATEDIFF_UNET, (768, 12, 12), SD_VAE, 16, 512),
}
TINY_SPECS = {
    "zeroscope": ModelSpec("zeroscope", "tiny UNet3D (ZeroScope's layout)", "UNet3DConditionModel",
                           TINY_UNET3D, (32, 2, 2), TINY_VAE, 4, 64),
    "animatediff": ModelSpec("animatediff", "tiny UNetMotionModel (AnimateDiff's layout)", "UNetMotionModel",
                             TINY_ANIMATEDIFF_UNET, (32, 2, 2), TINY_VAE, 4, 64),
}


@dataclass(frozen=True)
class Budget:
    """How many steps and videos each part runs."""

    train_warmup: int
    train_rounds: int
    train_steps: int
    clips: int
    sampling_steps: int
    sample_repeats: int
    ddp_warmup: int
    ddp_steps: int
    ddp_timeout_s: int
    flops_on_meta: bool


FULL_BUDGET = Budget(train_warmup=2, train_rounds=3, train_steps=9, clips=2, sampling_steps=25, sample_repeats=3,
                     ddp_warmup=3, ddp_steps=10, ddp_timeout_s=300, flops_on_meta=True)
# Tiny: FLOPs counted on the run's device (meta's Python kernels take ~10 s per model at any size);
# tests/unit/test_gpu_bench.py checks that both counts agree.
TINY_BUDGET = Budget(train_warmup=1, train_rounds=1, train_steps=1, clips=2, sampling_steps=2, sample_repeats=1,
                     ddp_warmup=1, ddp_steps=1, ddp_timeout_s=120, flops_on_meta=False)


@dataclass(frozen=True)
class Precision:
    """The compute precision on `device`: bf16 on a GPU (our GPU recipe), float32 on the CPU
    (the trainer refuses half precision there)."""

    device: torch.device

    @property
    def mixed_precision(self) -> str:
        return "bf16" if self.device.type == "cuda" else "no"

    @property
    def dtype(self) -> torch.dtype:
        return precision_dtype(self.mixed_precision, self.device)

    @property
    def name(self) -> str:
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    @property
    def latent_tolerance(self) -> float:
        """Largest |ours - diffusers| of the final latents, over their largest magnitude: torch.testing's
        relative tolerance for bf16; for float32, what tests/unit/test_generate.py allows."""
        return 1.6e-2 if self.dtype == torch.bfloat16 else 1e-5


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def bf16_peak_tflops(device: torch.device) -> float | None:
    """The device's dense bf16 peak from the datasheet table, or None when it is not in it."""
    name = device_name(device)
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class PeakMemory:
    """Peak bytes of the tensors allocated while entered (what already existed is not counted):
    the CUDA allocator's statistics on a GPU, `zeroscope_memory.LiveBytes` on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.bytes = device, 0
        self._live = memory.LiveBytes() if device.type != "cuda" else None
        self._before = 0

    def __enter__(self) -> "PeakMemory":
        if self._live is not None:
            self._live.__enter__()
        else:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._before = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self.bytes = self._live.peak
        else:
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._before


def build_unet(spec: ModelSpec, device: torch.device | str, dtype: torch.dtype) -> torch.nn.Module:
    """The spec's bare UNet, random weights from SEED, frozen, on `device` in `dtype`."""
    torch.manual_seed(SEED)
    with torch.device(device):
        unet = unet_class(spec.unet_class)(**spec.unet)
    # nn.Module.to: diffusers' override only adds a warning aimed at from_pretrained users.
    return torch.nn.Module.to(unet, dtype).requires_grad_(False).eval()


def ddim_scheduler():
    """ZeroScope's and SD1.5's DDIM settings (as the tiny models write them)."""
    import diffusers

    return diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                   clip_sample=False, set_alpha_to_one=False)


def build_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> T2VModel:
    """The whole T2V model of `spec` in memory: UNet, CLIP text encoder, VAE, tokenizer, DDIM."""
    import diffusers

    unet = build_unet(spec, device, dtype)
    tokenizer = _build_tokenizer(TOKENIZER_MAX_LENGTH)
    hidden, layers, heads = spec.text
    with torch.device(device):
        text_encoder = build_clip_text_encoder(tokenizer, hidden, layers, heads)
        vae = diffusers.AutoencoderKL(**spec.vae)
    for module in (text_encoder, vae):
        torch.nn.Module.to(module, dtype).requires_grad_(False).eval()
    identity = ModelIdentity(spec.label, f"random weights, seed {SEED}", architecture_hash(dict(unet.config)))
    return T2VModel(Path(spec.name), identity, unet, vae, text_encoder, tokenizer, ddim_scheduler(),
                    loaded=("unet", "vae", "text_encoder", "tokenizer", "scheduler"))


def our_config(precision: Precision, checkpointing: bool) -> TrainConfig:
    return TrainConfig(mixed_precision=precision.mixed_precision, gradient_checkpointing=checkpointing)


class RandomClips:
    """`clips` clips of random latents and their caption embeddings on the device, and the noise
    of every step (the interface of train_vs_reference.Data, batch 1)."""

    def __init__(self, model: T2VModel, spec: ModelSpec, clips: int, device: torch.device) -> None:
        generator = torch.Generator().manual_seed(SEED)
        shape = (clips, model.unet.config.in_channels, spec.frames, spec.latent_size, spec.latent_size)
        self.latents = torch.randn(shape, generator=generator).to(device)
        self.captions = [f"{PROMPT}, clip {i}" for i in range(clips)]
        with torch.no_grad():
            self.text = encode_prompts(model.tokenizer, model.text_encoder, self.captions).float().to(device)
        self.device, self.timesteps = device, model.scheduler.config.num_train_timesteps

    def at(self, step: int):
        index = step % len(self.latents)
        return [index], draw_noise([step], self.latents.shape[1:], self.timesteps).to(self.device)


class DeviceReferenceRecipe(ReferenceRecipe):
    """The reference recipe on any device: `encode_prompts` hands its per-step embeddings back on
    the CPU; they go to the U-Net's device."""

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return super().encode_text(captions).to(self.model.unet.device)


def reference_loop(model: T2VModel, data: RandomClips, settings: ReferenceSettings, precision: Precision) -> Callable[[int], Any]:
    """The reference recipe on its own copy of the UNet and text encoder, under autocast in `precision`."""
    recipe = DeviceReferenceRecipe(copy.deepcopy(dataclasses.replace(model, vae=None)),
                                   training_scheduler(model.scheduler.config), settings)
    half = precision.dtype != torch.float32

    def step(index: int) -> dict[str, float]:
        indices, noise = data.at(index)
        with torch.autocast(precision.device.type, dtype=precision.dtype, enabled=half):
            return recipe.step(data.latents[indices], [data.captions[i] for i in indices], noise, data.text[indices])

    return step


def our_loop(model: T2VModel, data: RandomClips, config: TrainConfig, precision: Precision) -> Callable[[int], Any]:
    """Our trainer (what `motionlora train` runs) on its own copy of the UNet."""
    unet = add_training_adapters(copy.deepcopy(model.unet), config)
    ctx = DistContext(0, 1, 0, precision.device)
    trainer = Trainer(unet, training_scheduler(model.scheduler.config), config, ctx, precision.dtype)

    def step(index: int) -> dict[str, float]:
        indices, noise = data.at(index)
        return trainer.step([MicroBatch(data.latents[indices], data.text[indices], noise)])

    return step


def warmed_up(make: Callable[[], Callable[[int], Any]], device: torch.device, warmup: int) -> tuple[Callable[[int], Any], int]:
    """Build a loop and run its warm-up steps; the loop (synchronised after every step) and the peak
    bytes it allocated (its weights, LoRA, optimizer state and the largest step's activations)."""
    with PeakMemory(device) as peak:
        run = make()
        for index in range(warmup):
            run(index)

    def synchronized(index: int) -> Any:
        result = run(index)
        synchronize(device)
        return result

    return synchronized, peak.bytes


def path_loss(unet: torch.nn.Module, temporal: bool, frames: int, latent_size: int) -> torch.Tensor:
    """Our trainer's loss of one path on random inputs on the UNet's device: the temporal path
    (whole clip, spatial LoRA frozen) or the spatial path (one frame, motion LoRA off)."""
    device = next(unet.parameters()).device
    set_lora_enabled(unet, MOTION_ADAPTER, temporal)
    for param in lora_parameters(unet, SPATIAL_ADAPTER):
        param.requires_grad_(not temporal)
    latents = torch.randn(1, unet.config.in_channels, frames, latent_size, latent_size, device=device)
    text = text_condition(unet, torch.randn(1, TOKENIZER_MAX_LENGTH, unet.config.cross_attention_dim, device=device), frames)
    prediction = unet(latents, torch.tensor([500], device=device), encoder_hidden_states=text).sample
    return diffusion_loss(prediction, torch.randn_like(prediction))


def step_flops(spec: ModelSpec, config: TrainConfig, device: torch.device | str = "meta") -> int:
    """FLOPs of one step of our recipe (batch 1): forward and backward of the temporal path and,
    dual-path, of the spatial path, without checkpointing's recomputation, counted by torch's
    FlopCounterMode on `device` (meta: nothing is computed or allocated). Float32 weights: the
    count does not depend on the dtype, and the frozen spatial LoRA runs as a branch, as on bf16
    weights. Attention runs its math path, whose matmuls the counter sees on every device."""
    unet = add_training_adapters(build_unet(spec, device, torch.float32), config)
    paths = [(True, spec.frames)] + ([(False, 1)] if config.dual_path else [])
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        for temporal, frames in paths:
            path_loss(unet, temporal, frames, spec.latent_size).backward()
    return counter.get_total_flops()


@dataclass
class TrainResult:
    """One model's training measurements; settings by label."""

    seconds: dict[str, float]
    peak_bytes: dict[str, int]
    estimate_bytes: dict[str, int]
    flops: int
    steps_per_concept: int

    REFERENCE = "reference recipe as released"

    @staticmethod
    def ours(checkpointing: bool) -> str:
        return f"ours, {'checkpointing' if checkpointing else 'no checkpointing'}"

    def speedup(self, checkpointing: bool = True) -> float:
        return self.seconds[self.REFERENCE] / self.seconds[self.ours(checkpointing)]

    def mfu(self, peak_tflops: float, checkpointing: bool = True) -> float:
        return self.flops / self.seconds[self.ours(checkpointing)] / (peak_tflops * 1e12)

    def minutes_per_concept(self) -> float:
        return self.steps_per_concept * self.seconds[self.ours(True)] / 60

    def details(self, peak_tflops: float | None) -> dict[str, Any]:
        return {
            "ms_per_step": {k: round(1000 * v, 2) for k, v in self.seconds.items()},
            "peak_gb": {k: round(v / GIB, 3) for k, v in self.peak_bytes.items()},
            "estimate_gb": {k: round(v / GIB, 3) for k, v in self.estimate_bytes.items()},
            "speedup_vs_reference": {"checkpointing": round(self.speedup(True), 4), "no checkpointing": round(self.speedup(False), 4)},
            "tflop_per_step": round(self.flops / 1e12, 4),
            "mfu": None if peak_tflops is None else {
                "checkpointing": round(self.mfu(peak_tflops, True), 4), "no checkpointing": round(self.mfu(peak_tflops, False), 4)},
            "minutes_per_concept": round(self.minutes_per_concept(), 3),
            "steps_per_concept": self.steps_per_concept,
        }


def train_part(spec: ModelSpec, model: T2VModel, precision: Precision, budget: Budget, table: "Table") -> TrainResult:
    """Build and warm up the three loops one after the other (each one's peak memory on its own),
    then time them in round-robin turns."""
    device = precision.device
    data = RandomClips(model, spec, budget.clips, device)
    base = our_config(precision, checkpointing=True)
    reference = ladder_settings(base)[0][1]
    makers = {
        TrainResult.REFERENCE: lambda: reference_loop(model, data, reference, precision),
        TrainResult.ours(True): lambda: our_loop(model, data, base, precision),
        TrainResult.ours(False): lambda: our_loop(model, data, our_config(precision, checkpointing=False), precision),
    }
    loops, peaks = {}, {}
    for label, make in makers.items():
        loops[label], peaks[label] = warmed_up(make, device, budget.train_warmup)
    seconds = timed_rounds(loops, budget.train_steps, budget.train_rounds, warmup=0)
    del loops
    free_memory(device)
    estimate = memory.estimate(memory.BF16, spec.frames, spec.size) if spec.estimated and precision.name == "bf16" else None
    estimates = {TrainResult.ours(c): estimate.peak(c) for c in (True, False)} if estimate else {}
    result = TrainResult(seconds, peaks, estimates, step_flops(spec, base, "meta" if budget.flops_on_meta else device), base.steps)
    for label in makers:
        note = f"peak {peaks[label] / GIB:.3g} GiB"
        if label in estimates:
            note += f"; estimate {estimates[label] / GIB:.2f} GiB, measured/estimate {peaks[label] / estimates[label]:.2f}"
        table.row(spec.name, f"train {precision.name}: {label}", f"{1000 * seconds[label]:.1f} ms/step", note)
    table.row(spec.name, "train speed-up vs reference", f"{result.speedup(True):.2f}x",
              f"both with checkpointing; {result.speedup(False):.2f}x for ours without")
    return result


def mfu_rows(spec: ModelSpec, result: TrainResult, peak_tflops: float | None, device: torch.device, table: "Table") -> None:
    flops = f"{result.flops / 1e12:.3g} TFLOP/step"
    if peak_tflops is None:
        table.row(spec.name, "MFU", "n/a", f"{flops}; no bf16 peak known for {device_name(device)} (pass --peak-tflops)")
    else:
        table.row(spec.name, "MFU, ours with checkpointing", f"{100 * result.mfu(peak_tflops, True):.1f}%",
                  f"{flops} over {peak_tflops:g} TFLOPS; {100 * result.mfu(peak_tflops, False):.1f}% without checkpointing")
    table.row(spec.name, "minutes per concept", f"{result.minutes_per_concept():.2f} min",
              f"{result.steps_per_concept} steps x {result.seconds[result.ours(True)]:.3f} s (ours, checkpointing)")


class SamplingMismatch(AssertionError):
    """Our sampler and the diffusers pipeline did not produce the same latents."""


@dataclass(frozen=True)
class LatentMatch:
    max_abs_difference: float
    max_abs_latent: float
    tolerance: float

    @property
    def relative(self) -> float:
        return self.max_abs_difference / max(self.max_abs_latent, 1e-12)

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance


def sampling_config(spec: ModelSpec, steps: int) -> SamplingConfig:
    return SamplingConfig(steps=steps, frames=spec.frames, width=spec.size, height=spec.size)


def initial_noise(model: T2VModel, config: SamplingConfig, seed: int) -> torch.Tensor:
    """The starting latents `sample_latents` draws for `seed` (the DDIM scheduler's init sigma is 1),
    for the pipeline's `latents=`."""
    scale = memory.VAE_SCALE
    shape = (1, model.unet.config.in_channels, config.frames, config.height // scale, config.width // scale)
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)).to(model.unet.device, model.unet.dtype)


def pipeline_video(pipe: Any, model: T2VModel, config: SamplingConfig, seed: int, output_type: str) -> Any:
    """The diffusers pipeline's video for PROMPT from our starting latents."""
    return pipe(PROMPT, num_inference_steps=config.steps, num_frames=config.frames, height=config.height, width=config.width,
                guidance_scale=config.guidance_scale, latents=initial_noise(model, config, seed), output_type=output_type).frames


def compare_latents(model: T2VModel, pipe: Any, config: SamplingConfig, precision: Precision, seed: int = SEED) -> LatentMatch:
    """Final latents of our sampler and of the pipeline, same prompt, steps and noise; raises
    SamplingMismatch when they differ by more than the precision's tolerance."""
    ours = sample_latents(model, PROMPT, config, seed).float()
    theirs = pipeline_video(pipe, model, config, seed, "latent").float()
    match = LatentMatch(float((ours - theirs).abs().max()), float(theirs.abs().max()), precision.latent_tolerance)
    if not match.ok:
        raise SamplingMismatch(f"final latents differ: max |ours - diffusers| {match.max_abs_difference:.3g} is "
                               f"{match.relative:.3g} of the largest |latent| {match.max_abs_latent:.3g} (tolerance {match.tolerance:g})")
    return match


@dataclass
class SampleResult:
    ours_s: float
    diffusers_s: float
    pipeline: str
    match: LatentMatch
    steps: int

    @property
    def speedup(self) -> float:
        return self.diffusers_s / self.ours_s

    def details(self) -> dict[str, Any]:
        return {"ours_s_per_video": round(self.ours_s, 4), "diffusers_s_per_video": round(self.diffusers_s, 4),
                "pipeline": self.pipeline, "steps": self.steps, "speedup": round(self.speedup, 4),
                "latents_max_abs_difference": self.match.max_abs_difference, "latents_max_abs": self.match.max_abs_latent,
                "latents_relative_tolerance": self.match.tolerance}


def sample_part(spec: ModelSpec, model: T2VModel, precision: Precision, budget: Budget, table: "Table") -> SampleResult:
    """Check that both samplers agree, then time whole videos (decoded), alternating, after one warm-up each."""
    pipe = diffusers_pipeline(model)
    config = sampling_config(spec, budget.sampling_steps)
    match = compare_latents(model, pipe, config, precision)
    runs = {"ours": lambda: generate_video(model, PROMPT, config, seed=SEED),
            "diffusers": lambda: pipeline_video(pipe, model, config, SEED, "np")}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(budget.sample_repeats + 1):
        for name, run in runs.items():
            synchronize(precision.device)
            tick = time.perf_counter()
            run()
            synchronize(precision.device)
            if repeat:
                times[name].append(time.perf_counter() - tick)
    result = SampleResult(statistics.median(times["ours"]), statistics.median(times["diffusers"]), type(pipe).__name__, match, config.steps)
    settings = f"{config.steps} DDIM steps, CFG {config.guidance_scale}, median of {budget.sample_repeats}"
    table.row(spec.name, "sample: ours", f"{result.ours_s:.3f} s/video", settings)
    table.row(spec.name, f"sample: {result.pipeline}", f"{result.diffusers_s:.3f} s/video", settings)
    table.row(spec.name, "sample speed-up vs diffusers", f"{result.speedup:.2f}x",
              f"latents max |diff| {match.max_abs_difference:.2g} = {match.relative:.2g} of max |latent| (tolerance {match.tolerance:g})")
    return result


def random_dataset(spec: ModelSpec, unet: torch.nn.Module, clips: int) -> PreprocessedDataset:
    """Random latents and text embeddings, the same on every rank, as `motionlora train` reads them."""
    generator = torch.Generator().manual_seed(SEED)
    latents = torch.randn((clips, unet.config.in_channels, spec.frames, spec.latent_size, spec.latent_size), generator=generator)
    text = torch.randn((clips, TOKENIZER_MAX_LENGTH, unet.config.cross_attention_dim), generator=generator)
    return PreprocessedDataset(Path(spec.name), {}, latents, text, [{"id": str(i), "caption": PROMPT} for i in range(clips)])


def identical_on_all_ranks(params: list[torch.Tensor]) -> bool:
    """Whether every rank holds the same values: the element-wise max over ranks equals the min
    (two all-reduces through the process group, whatever its size)."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in params])
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return torch.equal(high, low)


def ddp_worker(args: argparse.Namespace) -> None:
    """One torchrun rank: our trainer on ZeroScope (or its tiny stand-in) with this rank's ShardPlan
    share; rank 0 writes the report to --out. A single rank still joins a process group of one."""
    ctx = init_distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if ctx.device.type == "cuda" else "gloo", rank=0, world_size=1)
    spec, budget, precision = (TINY_SPECS if args.tiny else FULL_SPECS)["zeroscope"], budget_of(args), Precision(ctx.device)
    config = our_config(precision, checkpointing=True)
    unet = add_training_adapters(build_unet(spec, ctx.device, precision.dtype), config)
    trainer = Trainer(unet, training_scheduler(ddim_scheduler().config), config, ctx, precision.dtype)
    broadcast_parameters(trainer.params, ctx)
    run = step_runner(trainer, random_dataset(spec, unet, budget.clips), ctx)
    for step in range(budget.ddp_warmup):
        run(step)
    synchronize(ctx.device)
    dist.barrier()
    tick = time.perf_counter()
    for step in range(budget.ddp_warmup, budget.ddp_warmup + budget.ddp_steps):
        run(step)
    synchronize(ctx.device)
    dist.barrier()
    seconds = time.perf_counter() - tick
    identical = identical_on_all_ranks(trainer.params)
    if ctx.is_main:
        report = {"processes": ctx.world_size, "backend": dist.get_backend(), "ms_per_step": 1000 * seconds / budget.ddp_steps,
                  "samples_per_s": config.batch_size * ctx.world_size * budget.ddp_steps / seconds, "weights_identical": identical}
        Path(args.out).write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


def launch(processes: int, args: argparse.Namespace, out: Path, budget: Budget) -> dict[str, Any]:
    """This file's worker under torchrun with `processes` ranks; rank 0's report."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(Path(__file__).resolve()), "--worker", "--out", str(out), *(["--tiny"] if args.tiny else [])]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or 1)}
    subprocess.run(command, env=env, check=True, timeout=budget.ddp_timeout_s)
    return json.loads(out.read_text())


def ddp_part(args: argparse.Namespace, budget: Budget, ranks: int, scratch: Path, table: "Table") -> list[dict[str, Any]]:
    """One rank, then `ranks` ranks if more than one."""
    reports = []
    for processes in sorted({1, ranks}):
        report = launch(processes, args, scratch / f"ddp-{processes}.json", budget)
        reports.append(report)
        table.row("zeroscope", f"{report['backend']} torchrun, {processes} process(es)", f"{report['ms_per_step']:.1f} ms/step",
                  f"LoRA weights identical on all ranks: {report['weights_identical']}")
    if len(reports) > 1:
        table.row("zeroscope", f"data-parallel scaling, {ranks} processes", f"{scaling(reports):.2f}x", f"ideal {ranks}.00x")
    return reports


def scaling(reports: list[dict[str, Any]]) -> float:
    return reports[-1]["samples_per_s"] / reports[0]["samples_per_s"]


class Table:
    """A markdown table printed row by row, as the results come."""

    def __init__(self) -> None:
        print("| model | measurement | value | note |\n|---|---|---|---|", flush=True)

    def row(self, model: str, measurement: str, value: str, note: str = "") -> None:
        print(f"| {model} | {measurement} | {value} | {note} |", flush=True)


class Results:
    """The run's results so far, and where they go: results.json through `record` (a GPU run),
    the --out file (any run), or nowhere (--tiny without --out)."""

    def __init__(self, args: argparse.Namespace, specs: dict[str, ModelSpec], device: torch.device, peak_tflops: float | None) -> None:
        self.out, self.tiny, self.specs, self.peak_tflops = args.out, args.tiny, specs, peak_tflops
        self.train: dict[str, TrainResult] = {}
        self.sample: dict[str, SampleResult] = {}
        self.ddp: list[dict[str, Any]] = []
        self.common = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": device_name(device),
                       "precision": Precision(device).name, "tiny": args.tiny}
        if device.type == "cuda":
            self.common["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))

    def _save(self, name: str, value: float, model: str, details: dict[str, Any]) -> None:
        details = {**self.common, **details}
        if self.out is None:
            if not self.tiny:
                record(name, value, model, details)
            return
        entries = json.loads(self.out.read_text()) if self.out.exists() else {}
        entries[name] = {"value": round(float(value), 4), "model": model, "machine": machine(),
                         "date": dt.date.today().isoformat(), **details}
        self.out.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")

    def _headline(self, results: dict[str, Any]) -> tuple[str, Any]:
        """ZeroScope's result when measured, else the first model's."""
        name = next(m for m in MODELS if m in results)
        return name, results[name]

    def flush(self) -> None:
        """Write every entry the results so far support."""
        if self.train:
            name, headline = self._headline(self.train)
            model = self.specs[name].title
            per_model = {m: r.details(self.peak_tflops) for m, r in self.train.items()}
            setting = {"setting": "value: ours with gradient checkpointing, batch 1, TrainConfig defaults (tap-k rank 16, "
                                  "dual path) in the precision below",
                       "models": {m: self.specs[m].title for m in self.train}, "per_model": per_model}
            self._save("gpu_train_speedup_vs_reference", headline.speedup(True), model,
                       {**setting, "reference": "benchmarks/reference_recipe.py as released (under bf16 autocast on a GPU)"})
            ours = TrainResult.ours(True)
            self._save("gpu_train_peak_memory_gb", headline.peak_bytes[ours] / GIB, model,
                       {**setting, "unit": "GiB", "estimate_gb": round(headline.estimate_bytes[ours] / GIB, 3) if headline.estimate_bytes else None})
            self._save("gpu_train_minutes_per_concept", headline.minutes_per_concept(), model,
                       {**setting, "note": "optimizer steps only: no model loading, preprocessing or validation sampling"})
            if self.peak_tflops is not None:
                self._save("gpu_train_mfu", headline.mfu(self.peak_tflops, True), model,
                           {**setting, "peak_tflops_bf16": self.peak_tflops,
                            "flops": "FlopCounterMode count (on the meta device in a full run): forward and backward "
                                     "of both paths, checkpointing's recomputation not counted"})
        if self.sample:
            name, headline = self._headline(self.sample)
            self._save("gpu_sample_speedup_vs_diffusers", headline.speedup, self.specs[name].title,
                       {"per_model": {m: r.details() for m, r in self.sample.items()}, "prompt": PROMPT, "seed": SEED})
        if self.ddp:
            backend = self.ddp[0]["backend"]
            model = self.specs["zeroscope"].title
            self._save(f"{backend}_identical_weights", float(all(r["weights_identical"] for r in self.ddp)), model, {"runs": self.ddp})
            if len(self.ddp) > 1:
                self._save("gpu_ddp_scaling", scaling(self.ddp), model,
                           {"runs": self.ddp, "ideal": self.ddp[-1]["processes"], "per_rank_batch": 1})


def budget_of(args: argparse.Namespace) -> Budget:
    return TINY_BUDGET if args.tiny else FULL_BUDGET


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models on any device; never writes results.json")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: from the datasheet table)")
    parser.add_argument("--ranks", type=int, help="torchrun processes for the ddp part (default: the GPUs, 1 on the CPU)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (and OMP_NUM_THREADS of the torchrun ranks)")
    parser.add_argument("--out", type=Path, help="write the entries to this JSON file instead of benchmarks/results.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_part(label: str, part: Callable[[], None], table: Table) -> bool:
    """Run one part; a failure is printed with its traceback and the run goes on to the next part."""
    try:
        part()
        return True
    except Exception as err:  # noqa: BLE001 - the other parts still run; the exit code reports it
        traceback.print_exc()
        table.row("-", label, "FAILED", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        return False


def model_parts(spec: ModelSpec, args: argparse.Namespace, precision: Precision, results: Results, table: Table) -> list[bool]:
    """The train and sample parts of one model (built once for both)."""
    budget, device = budget_of(args), precision.device
    model = build_model(spec, device, precision.dtype)
    outcomes = []

    def train() -> None:
        results.train[spec.name] = train_part(spec, model, precision, budget, table)
        mfu_rows(spec, results.train[spec.name], results.peak_tflops, device, table)

    def sample() -> None:
        results.sample[spec.name] = sample_part(spec, model, precision, budget, table)

    for label, part in (("train", train), ("sample", sample)):
        if label in args.parts:
            outcomes.append(run_part(f"{spec.name} {label}", part, table))
            results.flush()
    del model
    free_memory(device)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        ddp_worker(args)
        return 0
    if not torch.cuda.is_available() and not args.tiny:
        print(SKIP_LINE.format(torch=torch.__version__))
        return 0
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    precision, specs, budget = Precision(device), TINY_SPECS if args.tiny else FULL_SPECS, budget_of(args)
    peak_tflops = args.peak_tflops or bf16_peak_tflops(device)
    results = Results(args, specs, device, peak_tflops)
    start = time.perf_counter()
    print(f"bench-gpu{' --tiny' if args.tiny else ''}: {device_name(device)}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, {precision.name}", flush=True)
    table = Table()
    outcomes = []
    if {"train", "sample"} & set(args.parts):
        for name in args.models:
            outcomes += model_parts(specs[name], args, precision, results, table)
    if "ddp" in args.parts:
        ranks = args.ranks or max(1, torch.cuda.device_count())

        def ddp() -> None:
            with tempfile.TemporaryDirectory() as scratch:
                results.ddp = ddp_part(args, budget, ranks, Path(scratch), table)

        outcomes.append(run_part("ddp", ddp, table))
        results.flush()
    print(f"bench-gpu: {sum(outcomes)}/{len(outcomes)} parts done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
