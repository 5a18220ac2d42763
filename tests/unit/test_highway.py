"""AH: selected skips are β × the spatial output; off (and after the context) is stock diffusers."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet3DConditionModel
from helpers import fresh_model, run_unet, unet_inputs

from motionlora.motion import appearance_highway, highway_layers
from motionlora.motion.highway_settings import HighwaySettings


@pytest.fixture
def unet(tiny_model_dir):
    return fresh_model(tiny_model_dir, ("unet",)).unet


def _record(unet):
    """Hooks that record each down block's skips and its spatial transformers' outputs."""
    skips, spatial, handles = {}, {}, []
    for b, block in enumerate(unet.down_blocks):
        handles.append(block.register_forward_hook(lambda m, a, out, b=b: skips.__setitem__(b, out[1])))
        for i, attn in enumerate(getattr(block, "attentions", [])):
            handles.append(attn.register_forward_hook(lambda m, a, out, k=(b, i): spatial.__setitem__(k, out[0])))
    return skips, spatial, handles


@pytest.mark.parametrize("scope", ["all", "deepest"])
@pytest.mark.parametrize("beta", [1.0, 1.1])
def test_selected_skips_are_beta_times_spatial_output(backbone_dir, scope, beta):
    unet = fresh_model(backbone_dir, ("unet",)).unet
    inputs = unet_inputs(unet)
    stock_skips, _, handles = _record(unet)
    run_unet(unet, inputs)
    stock_skips = dict(stock_skips)
    for h in handles:
        h.remove()
    with appearance_highway(unet, HighwaySettings(scope, beta)) as selected:
        skips, spatial, handles = _record(unet)
        run_unet(unet, inputs)
    for h in handles:
        h.remove()
    assert selected == highway_layers(unet, scope) and selected
    for b, block in enumerate(unet.down_blocks):
        for layer in range(len(block.resnets)):
            if layer in selected.get(b, ()):
                assert torch.equal(skips[b][layer], spatial[(b, layer)] * beta)
                assert not torch.equal(skips[b][layer], stock_skips[b][layer])
            else:
                assert torch.equal(skips[b][layer], stock_skips[b][layer])


def test_scopes_on_the_tiny_model(unet):
    assert highway_layers(unet, "all") == {0: (0,), 1: (0,)}
    assert highway_layers(unet, "deepest") == {1: (0,)}
    assert highway_layers(unet, "off") == {}


def test_scopes_on_zeroscope_layout():
    """ZeroScope v2 576w: `deepest` = the two layers of down_blocks[2], whose skips feed up_blocks[1]."""
    with torch.device("meta"):
        zeroscope = UNet3DConditionModel(
            block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=1024, attention_head_dim=64
        )
    assert highway_layers(zeroscope, "all") == {0: (0, 1), 1: (0, 1), 2: (0, 1)}
    assert highway_layers(zeroscope, "deepest") == {2: (0, 1)}


def test_off_is_stock_diffusers_and_the_context_leaves_no_trace(unet, tiny_model_dir):
    stock = UNet3DConditionModel.from_pretrained(tiny_model_dir, subfolder="unet").eval()
    inputs = unet_inputs(unet)
    expected = run_unet(stock, inputs)
    with appearance_highway(unet, HighwaySettings("off", 1.1)) as selected:
        assert selected == {}
        assert torch.equal(run_unet(unet, inputs), expected)
    with appearance_highway(unet, HighwaySettings("all", 1.1)):
        assert not torch.equal(run_unet(unet, inputs), expected)
    assert torch.equal(run_unet(unet, inputs), expected)
    assert all(not block._forward_hooks for block in unet.down_blocks)


def test_unknown_scope_is_refused(unet):
    with pytest.raises(ValueError, match="deepest"):
        HighwaySettings("shallow")
    with pytest.raises(ValueError, match="deepest"):
        highway_layers(unet, "shallow")
