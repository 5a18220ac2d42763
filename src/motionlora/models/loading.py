"""Load the parts of a diffusers-format text-to-video model from a folder, a hub id or a bucket.

Every source is first resolved to a local diffusers-format directory (`location.py`), then each
part is loaded with its own `from_pretrained`, so a tiny test model and ZeroScope go through the
same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch

from motionlora.models.backbone import unet_class
from motionlora.models.identity import ModelIdentity, identify_model
from motionlora.models.location import PARTS, resolve_model_dir


@dataclass
class T2VModel:
    """The parts of a T2V model that motionlora uses; parts not asked for are None."""

    model_dir: Path
    identity: ModelIdentity
    unet: torch.nn.Module | None = None
    vae: torch.nn.Module | None = None
    text_encoder: torch.nn.Module | None = None
    tokenizer: object | None = None
    scheduler: object | None = None
    loaded: tuple[str, ...] = field(default_factory=tuple)


def pick_device(device: str | torch.device | None = None) -> str | torch.device:
    """`device` when given, else `cuda` when a GPU is available, else `cpu`: where a command or a
    pipeline step loads its model unless told."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_t2v_model(
    source: str | os.PathLike,
    parts: Iterable[str] = PARTS,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    revision: str | None = None,
) -> T2VModel:
    """Load the named `parts` of the T2V model at `source`; modules are frozen and in eval mode."""
    import diffusers
    from transformers import CLIPTextModel, CLIPTokenizer

    wanted = tuple(parts)
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown model parts {unknown}; valid parts: {list(PARTS)}")
    model_dir = resolve_model_dir(source, revision)
    model = T2VModel(model_dir=model_dir, identity=identify_model(model_dir, str(source)), loaded=wanted)
    for part in wanted:
        if part == "unet":
            config = diffusers.UNet3DConditionModel.load_config(model_dir, subfolder="unet")
            module = unet_class(config.get("_class_name", "")).from_pretrained(model_dir, subfolder="unet", torch_dtype=dtype)
        elif part == "vae":
            module = diffusers.AutoencoderKL.from_pretrained(model_dir, subfolder="vae", torch_dtype=dtype)
        elif part == "text_encoder":
            module = CLIPTextModel.from_pretrained(model_dir, subfolder="text_encoder", dtype=dtype)
        elif part == "tokenizer":
            model.tokenizer = CLIPTokenizer.from_pretrained(model_dir, subfolder="tokenizer")
            continue
        else:
            config = diffusers.DDIMScheduler.load_config(model_dir, subfolder="scheduler")
            model.scheduler = getattr(diffusers, config["_class_name"]).from_config(config)
            continue
        module.requires_grad_(False).eval().to(device)
        setattr(model, part, module)
    return model
