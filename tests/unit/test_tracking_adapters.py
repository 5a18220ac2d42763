"""Adapters named by MLflow URIs (real MLflow store on SQLite): a registered version by alias or
number and a run's artifacts resolve to the adapter's files, downloaded once into the cache."""

from __future__ import annotations

import hashlib

import mlflow
import pytest
from helpers import fresh_model, randomize_lora

from motionlora.motion import MOTION_ADAPTER, apply_motion_lora, save_motion_adapter
from motionlora.registry.model import log_motion_model
from motionlora.tracking import ensure_experiment
from motionlora.tracking.adapters import resolve_adapter


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def store(tmp_path, monkeypatch, mlflow_sqlite):
    uri = mlflow_sqlite(tmp_path)
    monkeypatch.setenv("MOTIONLORA_CACHE", str(tmp_path / "cache"))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(uri, "adapters"))  # artifacts beside the database
    yield uri
    mlflow.set_tracking_uri(previous)


def _adapter(tiny_model_dir, folder, seed):
    model = fresh_model(tiny_model_dir, ("unet",))
    apply_motion_lora(model.unet, "tap-k", rank=2)
    randomize_lora(model.unet, MOTION_ADAPTER, seed=seed)
    return save_motion_adapter(model.unet, folder, model.identity, "tap-k")


@pytest.mark.slow
def test_a_registered_version_by_alias_and_number_and_a_runs_artifacts(store, tiny_model_dir, tmp_path, monkeypatch):
    client = mlflow.MlflowClient(store)
    versions = []
    for seed in (1, 2):
        adapter = _adapter(tiny_model_dir, tmp_path / f"adapter{seed}", seed)
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(adapter), "adapter")
            info = log_motion_model(adapter, str(tiny_model_dir), {})
        versions.append((adapter, run.info.run_id, mlflow.register_model(info.model_uri, "motion-x").version))
    client.set_registered_model_alias("motion-x", "champion", versions[0][2])

    first = resolve_adapter("models:/motion-x@champion", store)
    assert _digest(first) == _digest(versions[0][0])
    assert resolve_adapter(f"models:/motion-x/{versions[1][2]}", store) != first
    assert _digest(resolve_adapter(f"runs:/{versions[1][1]}/adapter", store)) == _digest(versions[1][0])

    def no_download(**kwargs):
        raise AssertionError(f"downloaded again: {kwargs}")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", no_download)
    assert resolve_adapter("models:/motion-x@champion", store) == first  # cached: the version did not change
    client.set_registered_model_alias("motion-x", "champion", versions[1][2])  # a promotion moves the alias
    assert _digest(resolve_adapter("models:/motion-x@champion", store)) == _digest(versions[1][0])


def test_a_missing_alias_is_one_clear_error(store):
    mlflow.MlflowClient(store).create_registered_model("motion-y")
    with pytest.raises(ValueError, match=r"^models:/motion-y@champion: .*champion"):
        resolve_adapter("models:/motion-y@champion", store)


def test_a_folder_is_used_as_is(tmp_path):
    assert resolve_adapter(tmp_path / "adapter") == tmp_path / "adapter"
