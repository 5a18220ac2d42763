"""Small helpers shared by the unit tests (not fixtures: plain functions)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

import torch

from motionlora.models import T2VModel, load_t2v_model
from motionlora.models.backbone import text_condition
from motionlora.models.location import PARTS
from motionlora.motion.lora import lora_parameters


def fresh_model(model_dir: str | os.PathLike, parts: Iterable[str] = PARTS) -> T2VModel:
    """What `load_t2v_model(model_dir, parts=parts)` returns, for a model folder that no test
    changes (the session's tiny models): a deep copy of one load per folder and parts in this
    process. A copy of the tiny model costs about half a load's CPU time (0.13 s against 0.22-0.33,
    most of which is diffusers building the modules). Tests of loading itself call `load_t2v_model`."""
    return copy.deepcopy(_loaded(str(model_dir), tuple(parts)))


@functools.lru_cache(maxsize=None)
def _loaded(model_dir: str, parts: tuple[str, ...]) -> T2VModel:
    return load_t2v_model(model_dir, parts=parts)


def randomize_lora(unet: torch.nn.Module, adapter_name: str, seed: int = 0) -> None:
    """Give an adapter non-zero weights (peft initialises B to zero, i.e. a no-op update)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in lora_parameters(unet, adapter_name):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


def unet_inputs(unet: torch.nn.Module, frames: int = 4, seed: int = 0) -> dict:
    """Deterministic latents, timestep and text embeddings matching `unet`'s config, at half its
    native latent size: a quarter of the work, and nothing the tests check depends on the size."""
    generator = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size // 2
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


def poisoned_copy(preprocessed_dir: Path, out: Path, value: float) -> tuple[Path, str]:
    """A copy of preprocessed data at `out` whose last clip's latents are `value` (NaN or inf);
    index.json, hence the content hash a checkpoint is matched against, is unchanged. Returns the
    copy and the clip's id."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(preprocessed_dir, out)
    shard = json.loads((out / "index.json").read_text())["shards"][0]
    tensors = load_file(out / shard["file"])
    tensors["latents"][-1] = value
    save_file(tensors, out / shard["file"])
    return out, shard["clips"][-1]["id"]
