"""TAP: the motion LoRA lands exactly on the preset's temporal-attention linears and nowhere else."""

from __future__ import annotations

import pytest
import torch
from helpers import fresh_model, run_unet, unet_inputs
from peft.tuners.lora import LoraLayer

from motionlora.motion import MOTION_ADAPTER, PRESETS, apply_motion_lora, lora_modules, motion_lora_targets

# The tiny model's temporal transformers: transformer_in, the two cross-attention down blocks,
# the mid block and the two cross-attention up blocks (two layers each).
TEMPORAL = [
    "transformer_in",
    "down_blocks.0.temp_attentions.0",
    "down_blocks.1.temp_attentions.0",
    "mid_block.temp_attentions.0",
    "up_blocks.1.temp_attentions.0",
    "up_blocks.1.temp_attentions.1",
    "up_blocks.2.temp_attentions.0",
    "up_blocks.2.temp_attentions.1",
]
TAP_K = sorted(f"{t}.transformer_blocks.0.{a}.to_k" for t in TEMPORAL for a in ("attn1", "attn2"))


@pytest.fixture
def unet(tiny_model_dir):
    return fresh_model(tiny_model_dir, ("unet",)).unet


def test_tap_k_lands_exactly_on_temporal_keys(unet):
    apply_motion_lora(unet, "tap-k", rank=4)
    assert sorted(lora_modules(unet, MOTION_ADAPTER)) == TAP_K
    assert sorted(n for n, m in unet.named_modules() if isinstance(m, LoraLayer)) == TAP_K


def test_tap_k_leaves_value_out_and_ff_plain(unet):
    apply_motion_lora(unet, "tap-k", rank=4)
    for temporal in TEMPORAL:
        block = unet.get_submodule(f"{temporal}.transformer_blocks.0")
        for attn in (block.attn1, block.attn2):
            assert type(attn.to_v) is torch.nn.Linear
            assert type(attn.to_q) is torch.nn.Linear
            assert type(attn.to_out[0]) is torch.nn.Linear
        assert all(not isinstance(m, LoraLayer) for m in block.ff.modules())
    for name, module in unet.named_modules():
        if "temp_attentions" not in name and not name.startswith("transformer_in"):
            assert not isinstance(module, LoraLayer), name


def test_only_lora_weights_are_trainable(unet):
    rank = 4
    apply_motion_lora(unet, "tap-k", rank=rank)
    trainable = {n: p for n, p in unet.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A.motion." in n or ".lora_B.motion." in n for n in trainable)
    expected = sum(rank * (m.in_features + m.out_features) for m in (unet.get_submodule(t).base_layer for t in TAP_K))
    assert sum(p.numel() for p in trainable.values()) == expected


@pytest.mark.parametrize(
    ("preset", "leaves"),
    [
        ("tap-qk", {"attn1.to_q", "attn1.to_k", "attn2.to_q", "attn2.to_k"}),
        ("tap-qk-motion", {"attn1.to_q", "attn1.to_k", "attn2.to_q", "attn2.to_k"}),
        ("reference", {"attn1.to_k", "attn1.to_out.0", "attn2.to_k", "attn2.to_out.0"}),
        (
            "all",
            {f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")} | {"ff.net.0.proj", "ff.net.2"},
        ),
    ],
)
def test_other_presets(unet, preset, leaves):
    apply_motion_lora(unet, preset, rank=2)
    expected = sorted(f"{t}.transformer_blocks.0.{leaf}" for t in TEMPORAL for leaf in leaves)
    assert sorted(lora_modules(unet, MOTION_ADAPTER)) == expected


def test_presets_never_touch_value_except_all():
    for name, preset in PRESETS.items():
        assert any("to_v" in leaf for leaf in preset.targets) == (name == "all")


def test_unknown_preset_lists_valid_ones(unet):
    with pytest.raises(ValueError, match="tap-k"):
        motion_lora_targets(unet, "tap-v")


def test_lora_starts_as_a_no_op(unet):
    inputs = unet_inputs(unet)
    before = run_unet(unet, inputs)
    apply_motion_lora(unet, "tap-k", rank=4)
    assert torch.equal(run_unet(unet, inputs), before)


def test_animatediff_motion_modules_get_the_lora(tiny_animatediff_dir):
    unet = fresh_model(tiny_animatediff_dir, ("unet",)).unet
    apply_motion_lora(unet, "tap-k", rank=4)
    names = sorted(lora_modules(unet, MOTION_ADAPTER))
    modules = [
        "down_blocks.0.motion_modules.0",
        "down_blocks.1.motion_modules.0",
        "down_blocks.2.motion_modules.0",
        "mid_block.motion_modules.0",
        "up_blocks.0.motion_modules.0",
        "up_blocks.0.motion_modules.1",
        "up_blocks.1.motion_modules.0",
        "up_blocks.1.motion_modules.1",
        "up_blocks.2.motion_modules.0",
        "up_blocks.2.motion_modules.1",
    ]
    assert names == sorted(f"{m}.transformer_blocks.0.{a}.to_k" for m in modules for a in ("attn1", "attn2"))
