"""Model loading: the tiny builder, local folders, fsspec URLs, hub ids offline, identity hashes."""

from __future__ import annotations

import json

import pytest
import torch

from motionlora.cli import main
from motionlora.models import identify_model, load_t2v_model, resolve_model_dir
from motionlora.testing.tiny_model import build_tiny_model


def test_tiny_model_is_a_diffusers_folder(tiny_model_dir):
    index = json.loads((tiny_model_dir / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet3DConditionModel"]
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (tiny_model_dir / part).is_dir()
    assert not list(tiny_model_dir.rglob("*.bin")) and not list(tiny_model_dir.rglob("*.pt"))


def test_loads_every_part_frozen(tiny_model_dir):
    model = load_t2v_model(tiny_model_dir)
    assert type(model.unet).__name__ == "UNet3DConditionModel"
    assert type(model.scheduler).__name__ == "DDIMScheduler"
    for module in (model.unet, model.vae, model.text_encoder):
        assert not module.training and not any(p.requires_grad for p in module.parameters())
    ids = model.tokenizer(["a red circle"], return_tensors="pt").input_ids
    assert model.text_encoder(ids)[0].shape[-1] == model.unet.config.cross_attention_dim


def test_parts_and_dtype(tiny_model_dir):
    model = load_t2v_model(tiny_model_dir, parts=("unet",), dtype=torch.float16)
    assert model.vae is None and model.text_encoder is None
    assert next(model.unet.parameters()).dtype == torch.float16
    with pytest.raises(ValueError, match="valid parts"):
        load_t2v_model(tiny_model_dir, parts=("controlnet",))


def test_identity_is_stable_and_tells_models_apart(tiny_model_dir, tmp_path):
    again = build_tiny_model(tmp_path / "same", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert identify_model(again).weights_sha256 == identify_model(tiny_model_dir).weights_sha256
    assert identify_model(other).weights_sha256 != identify_model(tiny_model_dir).weights_sha256
    assert identify_model(other).architecture_sha256 == identify_model(tiny_model_dir).architecture_sha256


def test_fsspec_url_is_copied_to_a_local_cache(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTIONLORA_CACHE", str(tmp_path / "cache"))
    model = load_t2v_model(f"file://{tiny_model_dir}", parts=("unet",))
    assert model.model_dir.is_relative_to(tmp_path / "cache")
    assert model.identity.weights_sha256 == identify_model(tiny_model_dir).weights_sha256
    assert model.identity.source == tiny_model_dir.name  # a local folder by its name, never this machine's path


def test_missing_sources_name_themselves(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        resolve_model_dir(tmp_path / "no-such-model")
    with pytest.raises(FileNotFoundError, match="not a diffusers model folder"):
        resolve_model_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="cerspense/zeroscope_v2_576w"):
        resolve_model_dir("cerspense/zeroscope_v2_576w")


def test_cli_builds_a_tiny_model(tmp_path, capsys):
    assert main(["models", "tiny", "--out", str(tmp_path / "m"), "--seed", "3"]) == 0
    assert "wrote tiny T2V model" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "motionlora_tiny.json").read_text())["seed"] == 3
    assert type(load_t2v_model(tmp_path / "m", parts=("unet",)).unet).__name__ == "UNet3DConditionModel"  # the default backbone
