"""Spatial LoRAs of the dual-path recipe: they coexist with the motion LoRA, switch off, and go away."""

from __future__ import annotations

import pytest
import torch
from helpers import fresh_model, randomize_lora, run_unet, unet_inputs
from peft.tuners.lora import LoraLayer

from motionlora.motion import (
    MOTION_ADAPTER,
    SPATIAL_ADAPTER,
    apply_motion_lora,
    apply_spatial_lora,
    discard_spatial_lora,
    lora_enabled,
    lora_modules,
    lora_scale,
    spatial_lora_targets,
)


@pytest.fixture
def dual(tiny_model_dir):
    """A UNet with a non-zero motion LoRA and a non-zero spatial LoRA, plus a motion-only twin."""
    unet = fresh_model(tiny_model_dir, ("unet",)).unet
    twin = fresh_model(tiny_model_dir, ("unet",)).unet
    for model in (unet, twin):
        apply_motion_lora(model, "tap-k", rank=4)
        randomize_lora(model, MOTION_ADAPTER, seed=1)
    apply_spatial_lora(unet, rank=4)
    randomize_lora(unet, SPATIAL_ADAPTER, seed=2)
    return unet, twin


def test_spatial_targets_are_the_spatial_transformers(tiny_model_dir):
    unet = fresh_model(tiny_model_dir, ("unet",)).unet
    targets = spatial_lora_targets(unet)
    assert targets and all(".attentions." in t and "temp_attentions" not in t for t in targets)
    assert not any(t.endswith(("to_k", "to_q", "to_v")) and "transformer_in" in t for t in targets)


def test_both_adapters_are_active_and_trainable(dual):
    unet, twin = dual
    inputs = unet_inputs(unet)
    assert not torch.equal(run_unet(unet, inputs), run_unet(twin, inputs))
    trainable = [n for n, p in unet.named_parameters() if p.requires_grad]
    assert any(".motion." in n for n in trainable) and any(".spatial." in n for n in trainable)
    assert all(".lora_A." in n or ".lora_B." in n for n in trainable)


@pytest.mark.slow
def test_disabling_spatial_gives_the_motion_only_model(dual):
    unet, twin = dual
    inputs = unet_inputs(unet)
    with lora_enabled(unet, SPATIAL_ADAPTER, False):
        assert torch.equal(run_unet(unet, inputs), run_unet(twin, inputs))
    assert not torch.equal(run_unet(unet, inputs), run_unet(twin, inputs))


@pytest.mark.slow
def test_motion_scale_zero_is_the_spatial_path(dual, tiny_model_dir):
    """MotionDirector's spatial path: temporal LoRA at scale 0 equals the model without it."""
    unet, _ = dual
    spatial_only = fresh_model(tiny_model_dir, ("unet",)).unet
    apply_spatial_lora(spatial_only, rank=4)
    randomize_lora(spatial_only, SPATIAL_ADAPTER, seed=2)
    inputs = unet_inputs(unet)
    with lora_scale(unet, MOTION_ADAPTER, 0.0):
        torch.testing.assert_close(run_unet(unet, inputs), run_unet(spatial_only, inputs), rtol=0, atol=1e-6)


def test_discard_restores_the_base_linears(dual):
    unet, twin = dual
    removed = discard_spatial_lora(unet)
    assert removed == len(spatial_lora_targets(twin))
    assert not lora_modules(unet, SPATIAL_ADAPTER)
    assert all(type(unet.get_submodule(t)) is torch.nn.Linear for t in spatial_lora_targets(twin))
    assert sorted(n for n, m in unet.named_modules() if isinstance(m, LoraLayer)) == sorted(lora_modules(twin, MOTION_ADAPTER))
    inputs = unet_inputs(unet)
    assert torch.equal(run_unet(unet, inputs), run_unet(twin, inputs))
