"""Load the parts of a diffusers-format text-to-video model from a folder, a hub id or a bucket.

Every source is first resolved to a local diffusers-format directory (hub ids through the hub
cache, `s3://`/`gs://`/other fsspec URLs copied into a local cache), then each part is loaded with
its own `from_pretrained`, so a tiny test model and ZeroScope go through the same code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch

from motionlora.cache import cache_root
from motionlora.models.backbone import unet_class
from motionlora.models.identity import ModelIdentity, identify_model

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_HUB_PATTERNS = ["model_index.json", *(f"{p}/*" for p in PARTS)]


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


def _fetch_fsspec(url: str, cache_dir: Path) -> Path:
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise ImportError(
            f"reading {url!r} needs the fsspec backend for {protocol}:// ({err}); "
            f"install it, e.g. `pip install s3fs` or `pip install gcsfs`"
        ) from err
    if not fs.exists(f"{path.rstrip('/')}/model_index.json"):
        raise FileNotFoundError(f"{url} is not a diffusers model folder: no model_index.json in it")
    local = cache_dir / "remote" / hashlib.sha256(url.encode()).hexdigest()[:16]
    if not (local / ".complete").exists():
        local.mkdir(parents=True, exist_ok=True)
        fs.get(path.rstrip("/") + "/", str(local), recursive=True)
        (local / ".complete").write_text(url)
    return local


def _fetch_hub(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=_HUB_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise FileNotFoundError(
            f"model {repo_id!r} is not a local folder and could not be fetched from the hub "
            f"(offline: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}): {err}"
        ) from err


def resolve_model_dir(source: str | os.PathLike, revision: str | None = None) -> Path:
    """A local diffusers-format directory for `source` (folder, hub id, or fsspec URL)."""
    text = str(source)
    if "://" in text:
        return _fetch_fsspec(text, cache_root())
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").exists() and not (path / "unet").is_dir():
            raise FileNotFoundError(f"{path} is not a diffusers model folder: no model_index.json or unet/")
        return path
    if path.exists() or text.startswith((".", "/")) or text.count("/") != 1:
        raise FileNotFoundError(f"model {text!r}: no such folder, and not a hub id of the form owner/name")
    return _fetch_hub(text, revision)


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
