"""The sampler and `motionlora generate`: playable videos, determinism, parity with diffusers, PLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import fresh_model, randomize_lora

from motionlora.cli import build_parser, main
from motionlora.data.decode import decode_clip
from motionlora.generate import SCHEDULER_CLASSES, compile_once, generate_video, sample_latents
from motionlora.sampling import SCHEDULERS, SamplingConfig, sampling_config
from motionlora.generate_commands import sampling_flags
from motionlora.motion import MOTION_ADAPTER, apply_motion_lora, save_motion_adapter
from motionlora.motion.highway_settings import HighwaySettings
from motionlora.testing.stock import diffusers_pipeline

# Half the tiny model's native 32x32: 8x8 latents, a quarter of the UNet's work, the same checks.
FAST = SamplingConfig(steps=3, frames=6, guidance_scale=5.0, width=16, height=16)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return fresh_model(tiny_model_dir)


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    base = fresh_model(tiny_model_dir, ("unet",))
    apply_motion_lora(base.unet, "tap-k", rank=4)
    randomize_lora(base.unet, MOTION_ADAPTER)
    return save_motion_adapter(base.unet, tmp_path_factory.mktemp("adapter"), base.identity, "tap-k", HighwaySettings("all", 1.1))


@pytest.mark.slow
def test_matches_the_stock_diffusers_pipeline(backbone_dir):
    """No adapter, AH off: the same denoising as diffusers' own pipeline for the backbone
    (TextToVideoSDPipeline for UNet3D, AnimateDiffPipeline for AnimateDiff)."""
    model = fresh_model(backbone_dir)
    pipe = diffusers_pipeline(model)
    latents = torch.randn((1, 4, FAST.frames, 8, 8), generator=torch.Generator().manual_seed(7))
    expected = pipe(
        "a red circle moving left",
        num_inference_steps=FAST.steps,
        num_frames=FAST.frames,
        height=FAST.height,
        width=FAST.width,
        guidance_scale=FAST.guidance_scale,
        latents=latents,
        output_type="latent",
    ).frames
    ours = sample_latents(model, "a red circle moving left", FAST, seed=7)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_cli_writes_a_playable_deterministic_mp4(adapter, tiny_model_dir, tmp_path):
    args = ["generate", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--prompt", "a blue square",
            "--steps", "3", "--frames", "6", "--size", "16x16", "--seed", "11"]
    assert main([*args, "--out", str(tmp_path / "a.mp4")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.mp4")]) == 0
    first, second = decode_clip(tmp_path / "a.mp4"), decode_clip(tmp_path / "b.mp4")
    assert first.num_frames == 6 and first.size == (16, 16)
    assert np.array_equal(first.frames, second.frames)
    assert main([*args, "--out", str(tmp_path / "c.gif")]) == 0
    assert decode_clip(tmp_path / "c.gif").frames.shape == (6, 16, 16, 3)


@pytest.mark.slow
def test_seed_changes_the_video(model):
    assert not np.array_equal(generate_video(model, "a cat", FAST, seed=0), generate_video(model, "a cat", FAST, seed=1))


@pytest.mark.slow
def test_pli_uses_the_adapter_only_above_tau(adapter, tiny_model_dir):
    from motionlora.motion import load_motion_adapter

    base = fresh_model(tiny_model_dir)
    adapted = fresh_model(tiny_model_dir)
    load_motion_adapter(adapted.unet, adapter, adapted.identity)
    prompt = "a green triangle"
    without = sample_latents(base, prompt, FAST, seed=3)
    never = sample_latents(adapted, prompt, dataclasses.replace(FAST, pli_tau=1000), seed=3)
    assert torch.equal(never, without)
    assert torch.equal(sample_latents(adapted, prompt, dataclasses.replace(FAST, adapter=False), seed=3), without)
    always = sample_latents(adapted, prompt, FAST, seed=3)
    phased = sample_latents(adapted, prompt, dataclasses.replace(FAST, pli_tau=500), seed=3)
    assert not torch.equal(always, without)
    assert not torch.equal(phased, always) and not torch.equal(phased, without)
    assert torch.equal(sample_latents(adapted, prompt, FAST, seed=3), always)


@pytest.mark.slow
def test_highway_changes_the_sample(model):
    off = sample_latents(model, "a dog", FAST, seed=2)
    on = sample_latents(model, "a dog", dataclasses.replace(FAST, highway="all", beta=1.1), seed=2)
    assert not torch.equal(off, on)
    assert torch.equal(sample_latents(model, "a dog", FAST, seed=2), off)


def test_every_sampler_a_config_accepts_has_its_diffusers_scheduler():
    assert list(SCHEDULER_CLASSES) == list(SCHEDULERS)


def test_bad_settings_are_refused(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(ValueError, match="scheduler"):
        SamplingConfig(scheduler="euler")
    code = main(["generate", "--model", str(tmp_path / "missing"), "--prompt", "x", "--out", str(tmp_path / "x.mp4")])
    assert code == 2 and "missing" in capsys.readouterr().err


@pytest.mark.slow
def test_compile_wraps_the_unet_once_however_often_it_is_asked(tiny_model_dir):
    """Equal output and the speed-up are measured in benchmarks/sample_speed.py --compile (compiling
    takes minutes on a cold cache, too long for a unit test); here: in place, once."""
    unet = fresh_model(tiny_model_dir, ("unet", "scheduler")).unet
    assert unet._compiled_call_impl is None
    compile_once(unet)
    first = unet._compiled_call_impl
    compile_once(unet)
    assert first is not None and unet._compiled_call_impl is first


def test_the_compile_flag_and_setting_reach_the_sampling_config():
    parser = build_parser()
    base = ["generate", "--model", "m", "--prompt", "p", "--out", "o.mp4"]
    assert sampling_config(**sampling_flags(parser.parse_args(base))).compile is False
    assert sampling_config(**sampling_flags(parser.parse_args([*base, "--compile"]))).compile is True
    assert sampling_config(None, ["compile=true"], **sampling_flags(parser.parse_args(base))).compile is True
