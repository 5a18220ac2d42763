"""Motion adapters on disk: peft format, exact round trip, and refusal on another base model."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import randomize_lora, run_unet, unet_inputs

from motionlora.models import TinyModelSpec, build_tiny_model, load_t2v_model
from motionlora.motion import MOTION_ADAPTER, AdapterMismatchError, apply_motion_lora, load_motion_adapter, save_motion_adapter


def _trained(model_dir, tmp_path):
    model = load_t2v_model(model_dir, parts=("unet",))
    apply_motion_lora(model.unet, "tap-qk", rank=4, alpha=8)
    randomize_lora(model.unet, MOTION_ADAPTER)
    adapter = save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-qk", "deepest", 1.2, pli_tau=600)
    return model, adapter


@pytest.fixture
def trained(tiny_model_dir, tmp_path):
    return _trained(tiny_model_dir, tmp_path)


def test_adapter_folder_is_peft_format(trained):
    _, adapter = trained
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "motion.json"]
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    motion = json.loads((adapter / "motion.json").read_text())
    assert motion["preset"] == "tap-qk" and motion["highway_scope"] == "deepest" and motion["highway_beta"] == 1.2
    assert motion["pli_tau"] == 600 and len(motion["base_model"]["weights_sha256"]) == 64


@pytest.mark.parametrize("backbone", ["tiny_model_dir", "tiny_animatediff_dir"])
def test_round_trip_gives_identical_outputs(backbone, request, tmp_path):
    """Both backbones: UNet3D (ZeroScope-like) and UNetMotionModel (AnimateDiff: the shapes model)."""
    model_dir = request.getfixturevalue(backbone)
    model, adapter = _trained(model_dir, tmp_path)
    fresh = load_t2v_model(model_dir, parts=("unet",))
    info = load_motion_adapter(fresh.unet, adapter, fresh.identity)
    assert info.preset == "tap-qk"
    inputs = unet_inputs(model.unet)
    assert torch.equal(run_unet(fresh.unet, inputs), run_unet(model.unet, inputs))
    base = load_t2v_model(model_dir, parts=("unet",)).unet
    assert not torch.equal(run_unet(base, inputs), run_unet(fresh.unet, inputs))
    assert not any(p.requires_grad for p in fresh.unet.parameters())


def test_other_weights_are_refused_naming_both_hashes(trained, tmp_path):
    model, adapter = trained
    other = load_t2v_model(build_tiny_model(tmp_path / "other", seed=1), parts=("unet",))
    with pytest.raises(AdapterMismatchError) as err:
        load_motion_adapter(other.unet, adapter, other.identity)
    message = str(err.value)
    assert model.identity.weights_sha256 in message and other.identity.weights_sha256 in message


def test_other_architecture_is_refused(trained, tmp_path):
    _, adapter = trained
    wider = build_tiny_model(tmp_path / "wider", spec=TinyModelSpec(unet_channels=(16, 32, 48)))
    other = load_t2v_model(wider, parts=("unet",))
    with pytest.raises(AdapterMismatchError, match="architecture hash"):
        load_motion_adapter(other.unet, adapter, other.identity)


def test_not_an_adapter_folder(tmp_path, tiny_model_dir):
    model = load_t2v_model(tiny_model_dir, parts=("unet",))
    with pytest.raises(FileNotFoundError, match="motion.json"):
        load_motion_adapter(model.unet, tmp_path, model.identity)
