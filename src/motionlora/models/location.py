"""Where a diffusers-format model is: a local folder for a folder, a hub id (through the hub cache)
or an `s3://`/`gs://`/other fsspec URL (copied into a local cache). No torch: the steps that only
hash or bundle a model's files (registration) resolve it too."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from motionlora.cache import cache_root

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_HUB_PATTERNS = ["model_index.json", *(f"{p}/*" for p in PARTS)]


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
