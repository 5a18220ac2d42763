"""Small helpers shared by the unit tests (not fixtures: plain functions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

from motionlora.models.backbone import text_condition

from motionlora.motion.lora import lora_parameters


def randomize_lora(unet: torch.nn.Module, adapter_name: str, seed: int = 0) -> None:
    """Give an adapter non-zero weights (peft initialises B to zero, i.e. a no-op update)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in lora_parameters(unet, adapter_name):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


def unet_inputs(unet: torch.nn.Module, frames: int = 4, seed: int = 0) -> dict:
    """Deterministic latents, timestep and text embeddings matching `unet`'s config."""
    generator = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    text = torch.randn((1, 16, unet.config.cross_attention_dim), generator=generator)
    return {
        "sample": torch.randn((1, unet.config.in_channels, frames, size, size), generator=generator),
        "timestep": 500,
        "encoder_hidden_states": text_condition(unet, text, frames),
    }


@torch.no_grad()
def run_unet(unet: torch.nn.Module, inputs: dict) -> torch.Tensor:
    return unet(**inputs).sample


def load_script(path: Path, name: str) -> ModuleType:
    """A benchmark script imported as module `name` (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
