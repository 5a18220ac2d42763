"""Adapters named by MLflow URIs: `models:/motion-<concept>@champion` (any alias), `models:/NAME/3`,
or `runs:/<run id>/adapter`, downloaded once into a cache and used like a folder.

An alias is resolved to its version first and the cache is keyed by the version (or the run and
path), which never change: `@champion` after a promotion is another version, hence another folder,
and an unchanged one is not downloaded again. A registered version holds the whole MLflow model
(`registry.model`); only its MLmodel file and its `adapter` artifact are fetched, not the base model
beside them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from motionlora.cache import cache_root
from motionlora.motion.adapter_info import MOTION_NAME
from motionlora.tracking.runs import resolve_tracking_uri

SCHEMES = ("models:/", "runs:/")


def is_registry_uri(reference: str | os.PathLike) -> bool:
    return str(reference).startswith(SCHEMES)


def _pinned(client, uri: str) -> str:
    """What the URI names now, immutably: a run's path, or a registered model's version (not its alias)."""
    if uri.startswith("runs:/"):
        return uri
    name, _, alias = uri[len("models:/"):].partition("@")
    if alias:
        return f"models:/{name}/{client.get_model_version_by_alias(name, alias).version}"
    name, _, version = name.rpartition("/")
    if not name or not version.isdigit():
        raise ValueError(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    return uri


def _adapter_source(pinned: str, store: str, staging: Path) -> str:
    """The artifact URI of the adapter folder: a run path as given; in a registered model, the
    `adapter` artifact its MLmodel file names (MLflow keeps the logged folder's own name)."""
    import mlflow
    import yaml

    if pinned.startswith("runs:/"):
        return pinned
    mlmodel = mlflow.artifacts.download_artifacts(artifact_uri=f"{pinned}/MLmodel", dst_path=str(staging / "meta"),
                                                  tracking_uri=store, registry_uri=store)
    artifacts = yaml.safe_load(Path(mlmodel).read_text()).get("flavors", {}).get("python_function", {}).get("artifacts", {})
    if "adapter" not in artifacts:
        raise ValueError(f"{pinned} is not a motionlora model: its MLmodel lists no `adapter` artifact")
    return f"{pinned}/{artifacts['adapter']['path']}"


def resolve_adapter(reference: str | os.PathLike, tracking_uri: str | None = None) -> Path:
    """The local folder of the adapter `reference` names: a path as is, an MLflow URI from the cache
    (downloading it the first time)."""
    if not is_registry_uri(reference):
        return Path(reference)
    import mlflow
    from mlflow.exceptions import MlflowException

    uri, store = str(reference).rstrip("/"), resolve_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(store, registry_uri=store)
    try:
        pinned = _pinned(client, uri)
    except MlflowException as err:
        raise ValueError(f"{uri}: {err.message}") from None
    target = cache_root() / "adapters" / hashlib.sha256(f"{store}|{pinned}".encode()).hexdigest()[:24]
    if (target / MOTION_NAME).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        source = _adapter_source(pinned, store, staging)
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(staging / "adapter"),
                                                          tracking_uri=store, registry_uri=store))
        if not (folder / MOTION_NAME).exists():
            raise ValueError(f"{uri} does not hold a motion adapter ({MOTION_NAME} is missing in {source})")
        if not (target / MOTION_NAME).exists():  # another process may have cached it meanwhile
            shutil.rmtree(target, ignore_errors=True)
            os.replace(folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
