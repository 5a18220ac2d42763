"""The evaluation runner and report: metric aggregation, no-op adapters, and a self-contained report."""

from __future__ import annotations

import base64
import io
import re

import imageio.v3 as iio
import numpy as np
import pytest
from helpers import randomize_lora

from motionlora.evaluate.clip import build_tiny_clip, load_clip
from motionlora.evaluate.report import write_report
from motionlora.evaluate.run import EvaluationConfig, evaluate_adapter, fit_references, mean_ci95
from motionlora.generate import SamplingConfig
from motionlora.models import load_t2v_model
from motionlora.motion import MOTION_ADAPTER, apply_motion_lora
from motionlora.shapes.render import ClipSpec, render_clip

SAMPLING = SamplingConfig(steps=2, frames=8, guidance_scale=1.0)
CONFIG = EvaluationConfig(prompts=("a red circle on black", "a blue square on white"), seeds=(0, 1))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return load_clip(build_tiny_clip(tmp_path_factory.mktemp("clip")))


@pytest.fixture(scope="module")
def references():
    spec = ClipSpec(shape="triangle", color="green", background="stripes", motion="zigzag")
    return [render_clip(spec, seed) for seed in range(2)]


def test_mean_ci95():
    stats = mean_ci95([1.0, 2.0, 3.0])
    assert stats["mean"] == 2.0 and stats["n"] == 3
    assert stats["ci95_low"] == pytest.approx(2.0 - 4.302653 / np.sqrt(3), rel=1e-5)
    assert mean_ci95([5.0]) == {"mean": 5.0, "ci95_low": 5.0, "ci95_high": 5.0, "n": 1}


def test_references_are_fitted_to_the_generated_clips(references):
    fitted = fit_references([references[0][:5]], 8, 16, 24)
    assert fitted[0].shape == (8, 24, 16, 3)


def test_zero_lora_adapter_leaks_nothing(tiny_model_dir, references, clip):
    model = load_t2v_model(tiny_model_dir)
    apply_motion_lora(model.unet, "tap-k", rank=4)
    result = evaluate_adapter(model, references, CONFIG, SAMPLING, clip)
    assert len(result.per_video) == 4
    for row in result.per_video:
        assert row["appearance_leakage"] == 0.0
        assert row["motion_fidelity"] == row["base_motion_fidelity"]
        assert -1.0 <= row["motion_fidelity"] <= 1.0 and -100.0 <= row["text_alignment"] <= 100.0
    assert set(result.aggregate) >= {"motion_fidelity", "text_alignment", "appearance_leakage", "appearance_diversity"}


def test_report_embeds_every_clip(tiny_model_dir, references, clip, tmp_path):
    model = load_t2v_model(tiny_model_dir)
    apply_motion_lora(model.unet, "tap-k", rank=4)
    randomize_lora(model.unet, MOTION_ADAPTER)
    result = evaluate_adapter(model, references, CONFIG, SAMPLING, clip)
    assert any(row["appearance_leakage"] != 0.0 for row in result.per_video)
    page = write_report(result, references, tmp_path / "report.html", "test").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(references) + 2 * len(result.per_video)
    for src in sources:
        assert src.startswith("data:image/gif;base64,")
        frames = iio.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), extension=".gif", index=None)
        assert frames.shape[0] == 8
    assert "motion_fidelity" in page and "95% CI" in page


def test_no_prompts_is_an_error(tiny_model_dir, references, clip):
    model = load_t2v_model(tiny_model_dir)
    with pytest.raises(ValueError, match="prompt"):
        evaluate_adapter(model, references, EvaluationConfig(), SAMPLING, clip)
