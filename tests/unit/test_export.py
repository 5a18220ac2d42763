"""Exported adapters load with stock diffusers and peft and compute what ours computes (and not what
the base model computes): peft on both backbones, diffusers' `load_lora_weights` on AnimateDiff's
UNetMotionModel (diffusers 0.42's UNet3DConditionModel has no LoRA loader at all)."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers import fresh_model, randomize_lora, run_unet, unet_inputs

from motionlora import cli
from motionlora.testing.stock import diffusers_pipeline
from motionlora.motion import MOTION_ADAPTER, apply_motion_lora, load_motion_adapter, save_motion_adapter
from motionlora.motion.export import export_adapter

BACKBONES = ["tiny_model_dir", "tiny_animatediff_dir"]


@pytest.fixture
def adapter_and_outputs(request, tmp_path):
    """A tap-qk adapter with random weights (alpha 8 ≠ rank 4, so the scale must travel), the base
    model's dir, our loader's UNet output, and the base model's."""
    model_dir = request.getfixturevalue(request.param)
    model = fresh_model(model_dir, ("unet",))
    apply_motion_lora(model.unet, "tap-qk", rank=4, alpha=8)
    randomize_lora(model.unet, MOTION_ADAPTER)
    adapter = save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-qk")
    ours = fresh_model(model_dir, ("unet",))
    load_motion_adapter(ours.unet, adapter, ours.identity)
    inputs = unet_inputs(ours.unet)
    with torch.no_grad():
        expected, base = run_unet(ours.unet, inputs), run_unet(fresh_model(model_dir, ("unet",)).unet, inputs)
    return model_dir, adapter, inputs, expected, base


@pytest.mark.slow
@pytest.mark.parametrize("adapter_and_outputs", ["tiny_animatediff_dir"], indirect=True)
def test_diffusers_pipeline_load_lora_weights(adapter_and_outputs, tmp_path, capsys):
    model_dir, adapter, inputs, expected, base = adapter_and_outputs
    out = tmp_path / "diffusers"
    assert cli.main(["export", str(adapter), "--format", "diffusers", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (diffusers: pipe.load_lora_weights(dir))"
    pipe = diffusers_pipeline(fresh_model(model_dir))
    pipe.load_lora_weights(str(out))
    with torch.no_grad():
        stock = run_unet(pipe.unet, inputs)
    torch.testing.assert_close(stock, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(stock, base, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("adapter_and_outputs", BACKBONES, indirect=True)
def test_peft_model_from_pretrained(adapter_and_outputs, tmp_path):
    from peft import PeftModel

    model_dir, adapter, inputs, expected, base = adapter_and_outputs
    out = export_adapter(adapter, tmp_path / "peft", "peft")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapped = PeftModel.from_pretrained(fresh_model(model_dir, ("unet",)).unet, str(out))
    with torch.no_grad():
        stock = run_unet(wrapped, inputs)
    torch.testing.assert_close(stock, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(stock, base, atol=1e-4)
    assert not [w for w in caught if "missing" in str(w.message).lower()]  # what our own layout got from peft


def test_unknown_format_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", str(tmp_path), "--format", "comfyui", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'comfyui'" in capsys.readouterr().err
