"""Motion adapters on disk: peft format, exact round trip, refusal on another base model, finite only."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from helpers import fresh_model, randomize_lora, run_unet, unet_inputs
from safetensors.torch import load_file, save_file

from motionlora.finite import NonFiniteTensorError, check_tensor_file, read_tensors
from motionlora.models import load_t2v_model
from motionlora.motion import MOTION_ADAPTER, AdapterMismatchError, apply_motion_lora, load_motion_adapter, save_motion_adapter
from motionlora.motion.adapter_info import WEIGHTS_NAME
from motionlora.motion.highway_settings import HighwaySettings
from motionlora.motion.lora import lora_modules, lora_parameters
from motionlora.registry.gate import GateConfig
from motionlora.registry.registration import register_adapter
from motionlora.testing.tiny_model import TinyModelSpec, build_tiny_model


def _trained(model_dir, tmp_path):
    model = fresh_model(model_dir, ("unet",))
    apply_motion_lora(model.unet, "tap-qk", rank=4, alpha=8)
    randomize_lora(model.unet, MOTION_ADAPTER)
    adapter = save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-qk", HighwaySettings("deepest", 1.2), pli_tau=600)
    return model, adapter


@pytest.fixture(scope="module")
def _trained_once(tiny_model_dir, tmp_path_factory):
    return _trained(tiny_model_dir, tmp_path_factory.mktemp("trained"))


@pytest.fixture
def trained(_trained_once, tmp_path):
    """The model and a copy of its adapter in this test's folder (tests edit the adapter's files)."""
    model, adapter = _trained_once
    return model, shutil.copytree(adapter, tmp_path / "adapter")


def test_adapter_folder_is_peft_format(trained):
    _, adapter = trained
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "motion.json"]
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    motion = json.loads((adapter / "motion.json").read_text())
    assert motion["preset"] == "tap-qk" and motion["highway_scope"] == "deepest" and motion["highway_beta"] == 1.2
    assert motion["pli_tau"] == 600 and len(motion["base_model"]["weights_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["tiny_model_dir", "tiny_animatediff_dir"])
def test_round_trip_gives_identical_outputs(backbone, request, tmp_path):
    """Both backbones: UNet3D (ZeroScope-like) and UNetMotionModel (AnimateDiff: the shapes model)."""
    model_dir = request.getfixturevalue(backbone)
    model, adapter = _trained(model_dir, tmp_path)
    fresh = fresh_model(model_dir, ("unet",))
    info = load_motion_adapter(fresh.unet, adapter, fresh.identity)
    assert info.preset == "tap-qk"
    inputs = unet_inputs(model.unet)
    assert torch.equal(run_unet(fresh.unet, inputs), run_unet(model.unet, inputs))
    base = fresh_model(model_dir, ("unet",)).unet
    assert not torch.equal(run_unet(base, inputs), run_unet(fresh.unet, inputs))
    assert not any(p.requires_grad for p in fresh.unet.parameters())


def test_other_weights_are_refused_naming_both_hashes(trained, tmp_path):
    model, adapter = trained
    other = load_t2v_model(build_tiny_model(tmp_path / "other", seed=1), parts=("unet",))
    with pytest.raises(AdapterMismatchError) as err:
        load_motion_adapter(other.unet, adapter, other.identity)
    message = str(err.value)
    assert model.identity.weights_sha256 in message and other.identity.weights_sha256 in message


@pytest.mark.slow
def test_other_architecture_is_refused(trained, tmp_path):
    _, adapter = trained
    wider = build_tiny_model(tmp_path / "wider", spec=TinyModelSpec(unet_channels=(16, 32, 48)))
    other = load_t2v_model(wider, parts=("unet",))
    with pytest.raises(AdapterMismatchError, match="architecture hash"):
        load_motion_adapter(other.unet, adapter, other.identity)


def test_not_an_adapter_folder(tmp_path, tiny_model_dir):
    model = fresh_model(tiny_model_dir, ("unet",))
    with pytest.raises(FileNotFoundError, match="motion.json"):
        load_motion_adapter(model.unet, tmp_path, model.identity)


def _with_a_nan(adapter) -> str:
    """Put a NaN into one tensor of the adapter's weights file; returns that tensor's name."""
    tensors = load_file(adapter / WEIGHTS_NAME)
    name = sorted(tensors)[-1]
    tensors[name][0, 0] = float("nan")
    save_file(tensors, adapter / WEIGHTS_NAME)
    return name


def test_an_adapter_holding_a_nan_is_refused_on_load_naming_file_and_tensor(trained, tiny_model_dir):
    _, adapter = trained
    name = _with_a_nan(adapter)
    _assert_refused(adapter, tiny_model_dir, NonFiniteTensorError,
                    f"{adapter / WEIGHTS_NAME}: refusing to load it: tensor {name!r} holds NaN or infinite values")


def _assert_refused(adapter, model_dir, error: type[Exception], expected: str) -> None:
    """Loading `adapter` raises `error` starting with `expected` and leaves the UNet without a motion LoRA."""
    fresh = fresh_model(model_dir, ("unet",))
    with pytest.raises(error, match=re.escape(expected)):
        load_motion_adapter(fresh.unet, adapter, fresh.identity)
    assert not lora_modules(fresh.unet, MOTION_ADAPTER)


def test_non_finite_weights_are_never_written(tiny_model_dir, tmp_path):
    model = fresh_model(tiny_model_dir, ("unet",))
    apply_motion_lora(model.unet, "tap-k", rank=4)
    with torch.no_grad():
        lora_parameters(model.unet, MOTION_ADAPTER)[0].fill_(float("inf"))
    with pytest.raises(NonFiniteTensorError, match="refusing to write it: tensor '.*lora_A.*' holds NaN or infinite values"):
        save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-k")
    assert not (tmp_path / "adapter").exists()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_the_torch_free_check_refuses_and_accepts_what_loading_does(tmp_path, dtype):
    """Registration's check (numpy; bfloat16, which numpy lacks, through torch) against loading's."""
    bad, good = tmp_path / "bad.safetensors", tmp_path / "good.safetensors"
    save_file({"ok": torch.ones(3, dtype=dtype), "broken": torch.tensor([1.0, float("nan"), 2.0], dtype=dtype)}, bad)
    save_file({"ok": torch.ones(3, dtype=dtype)}, good)
    for check in (check_tensor_file, read_tensors):
        with pytest.raises(NonFiniteTensorError, match=re.escape(f"{bad}: refusing to load it: tensor 'broken' holds NaN")):
            check(bad, "load")
        check(good, "load")


def test_registration_refuses_an_adapter_holding_a_nan_before_touching_mlflow(trained, tmp_path):
    _, adapter = trained
    name = _with_a_nan(adapter)
    database = tmp_path / "mlflow.db"
    with pytest.raises(NonFiniteTensorError, match=re.escape(f"{adapter / WEIGHTS_NAME}: refusing to load it: tensor {name!r}")):
        register_adapter(adapter, tmp_path / "evaluation", tmp_path / "ingested", "models/unused", "nan", GateConfig(),
                         "pipeline-run", tracking_uri=f"sqlite:///{database}")
    assert not database.exists()


def _edit_config(adapter, **changes) -> None:
    path = adapter / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_targets_outside_the_preset_are_refused_naming_the_file(trained, tiny_model_dir):
    """A tap-qk adapter whose config also puts LoRA on temporal Value: refused, not applied as 'tap-qk'."""
    _, adapter = trained
    targets = json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
    value = sorted(t.replace("to_k", "to_v") for t in targets if t.endswith("to_k"))
    _edit_config(adapter, target_modules=targets + value)
    _assert_refused(adapter, tiny_model_dir, ValueError,
                    f"{adapter / 'adapter_config.json'}: {len(value)} target module(s) outside what preset 'tap-qk' allows, e.g. {value[:3]}")


def test_extra_trainable_modules_and_patterns_are_refused(trained, tiny_model_dir):
    _, adapter = trained
    _edit_config(adapter, modules_to_save=["conv_in"])
    fresh = fresh_model(tiny_model_dir, ("unet",))
    with pytest.raises(ValueError, match=re.escape("modules_to_save=['conv_in']")):
        load_motion_adapter(fresh.unet, adapter, fresh.identity)
    _edit_config(adapter, modules_to_save=None, target_modules=".*to_k")
    with pytest.raises(ValueError, match=re.escape("target_modules must be an explicit list and modules_to_save empty; got target_modules='.*to_k'")):
        load_motion_adapter(fresh.unet, adapter, fresh.identity)


def test_weights_of_another_rank_are_refused_naming_the_file(trained, tiny_model_dir):
    _, adapter = trained
    _edit_config(adapter, r=2)
    fresh = fresh_model(tiny_model_dir, ("unet",))
    with pytest.raises(ValueError, match=re.escape(f"{adapter / WEIGHTS_NAME} does not fit its config: size mismatch for ")):
        load_motion_adapter(fresh.unet, adapter, fresh.identity)
