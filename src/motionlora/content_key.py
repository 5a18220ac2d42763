"""The content key of a pipeline run: one hash over the inputs of the steps that do the work.

KFP reuses a step when its component and inputs are as in an earlier run. Several of the
pipeline's inputs are names — a clip folder, a DVC path, a base model folder, a recipe file — whose
content can change while the name stays, so the steps that do the work (ingest, preprocess, train,
evaluate) also take this key: the same key means the same clips, model, recipe and settings, and a
reuse is safe; edit a clip, the model or the recipe and the key changes, so those steps run again.
The key also covers those steps' settings, so that it names one piece of work: the steps find the
pipeline run they belong to by it (`tracking.pipeline_run.content_step`), and two runs that differ
only in, say, the learning rate must not find each other.

A local file or folder is keyed by its bytes; clips in DVC or an object store by the checksums the
storage keeps (no download); a hub id or a remote model URL by its text, so it is reused only while
the text is the same (name a revision for that to mean the same weights).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from motionlora.data.sources import ClipSource
from motionlora.hashing import files_sha256
from motionlora.models.identity import is_remote_reference


def source_fingerprint(source: ClipSource) -> str:
    """sha256 over every file of `source`: its name and its `content_id`."""
    listing = [(name, source.content_id(name)) for name in source.list_files()]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def reference_fingerprint(reference: str) -> str:
    """A local file or folder (a path or a file:// URL): sha256 over its files' names and bytes,
    hidden ones left out; an empty reference, a hub id or a remote URL: its text."""
    if not reference or ("://" in reference and not reference.startswith("file://")):
        return f"text:{reference}"
    path = Path(reference.removeprefix("file://")).expanduser()
    if path.is_file():
        return f"sha256:{files_sha256([(b'', path)])}"
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return f"sha256:{files_sha256((p.relative_to(path).as_posix().encode(), p) for p in files)}"
    if is_remote_reference(reference):
        return f"text:{reference}"
    raise FileNotFoundError(f"{reference} does not exist: neither a local file or folder, nor a hub id or a URL")


def content_key(source: ClipSource, references: Mapping[str, str], settings: Mapping[str, Any]) -> str:
    """The key over the clips of `source`, the content of each named reference (`{"base_model":
    "models/shapes", ...}`) and `settings` (JSON-able) as they are."""
    parts = {"source": source_fingerprint(source), "settings": settings,
             "references": {name: reference_fingerprint(value) for name, value in references.items()}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
