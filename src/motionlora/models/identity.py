"""Who a base model is: the hash of its UNet weights and of its UNet architecture.

Adapters record both, so loading an adapter onto other weights (even of the same shape) is refused
instead of silently producing a different motion. The weight hash is taken over the files on disk,
so it does not depend on the dtype or device the model is loaded with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from motionlora.hashing import files_sha256

WEIGHT_SUFFIXES = (".safetensors", ".bin")


@dataclass(frozen=True)
class ModelIdentity:
    """Provenance of a base model: where it came from and hashes of what was loaded."""

    source: str
    weights_sha256: str
    architecture_sha256: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def architecture_hash(config: Mapping[str, Any]) -> str:
    """Hash a diffusers model config, ignoring bookkeeping keys such as `_diffusers_version`."""
    public = {k: v for k, v in config.items() if not k.startswith("_")}
    if "_class_name" in config:
        public["class"] = config["_class_name"]
    blob = json.dumps(public, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()


def weights_hash(unet_dir: Path) -> str:
    """sha256 over the UNet weight files (names and bytes, in name order)."""
    files = sorted(p for p in Path(unet_dir).iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"no UNet weight files (*.safetensors, *.bin) in {unet_dir}")
    return files_sha256((path.name.encode(), path) for path in files)


def identify_model(model_dir: Path, source: str | None = None) -> ModelIdentity:
    """Identity of the diffusers-format model in `model_dir` (UNet in its `unet/` subfolder), its
    source (default: the folder) recorded by `base_model_source`."""
    unet_dir = Path(model_dir) / "unet"
    config = json.loads((unet_dir / "config.json").read_text())
    return ModelIdentity(
        source=base_model_source(source or str(model_dir)),
        weights_sha256=weights_hash(unet_dir),
        architecture_sha256=architecture_hash(config),
    )


@dataclass(frozen=True)
class IdentityMismatch:
    """How a recorded identity differs from a loaded model's: `what` ("architecture" or "weights")
    and the two hashes."""

    what: str
    recorded: str
    actual: str


def identity_mismatch(recorded: Mapping[str, Any], identity: ModelIdentity) -> IdentityMismatch | None:
    """The first of architecture and weights whose hash in `recorded` (a `ModelIdentity.to_dict()`
    stored with an adapter, a preprocessed folder or a checkpoint) is not `identity`'s; None when
    both agree. Whatever was made with one base model (a motion LoRA, latents, optimizer state) is
    silently wrong on another, so each reader refuses it, in its own words, on the answer."""
    for what in ("architecture", "weights"):
        key = f"{what}_sha256"
        if recorded.get(key) != getattr(identity, key):
            return IdentityMismatch(what, str(recorded.get(key)), getattr(identity, key))
    return None


def base_model_source(base_model: str) -> str:
    """How a base model's source is recorded (identities, adapters, MLflow models): a hub id or a
    remote URL as given; a local folder (or file:// URL) by its name only, never a path of the
    machine that recorded it — the hashes, not the path, say which weights they are."""
    text = str(base_model)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://")).name
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return path.resolve().name if path.is_dir() else text


def is_remote_reference(source: str) -> bool:
    """Whether `source` names a model another machine can fetch (a hub id `owner/name` or a URL)."""
    return ("://" in source and not source.startswith("file://")) or source.count("/") == 1
