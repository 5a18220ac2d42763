"""The evaluation runner and report: metric aggregation, no-op adapters, and a self-contained report."""

from __future__ import annotations

import base64
import io
import re

import imageio.v3 as iio
import numpy as np
import pytest
from helpers import fresh_model, randomize_lora

from motionlora.evaluate.clip import load_clip
from motionlora.evaluate.judges import find_judge
from motionlora.evaluate.report import title_sentence, upscale, write_report
from motionlora.evaluate.run import (
    EvaluationConfig,
    aggregate_rows,
    evaluate_adapter,
    fit_references,
    mean_ci95,
)
from motionlora.sampling import SamplingConfig
from motionlora.motion import MOTION_ADAPTER, apply_motion_lora
from motionlora.testing.tiny_clip import build_tiny_clip
from shapesworld.captions import parse_caption
from shapesworld.render import ClipSpec, caption, render_clip

SAMPLING = SamplingConfig(steps=2, frames=8, guidance_scale=1.0, width=16, height=16)  # half the native size: a quarter of the work
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


@pytest.mark.slow
def test_zero_lora_adapter_leaks_nothing(tiny_model_dir, references, clip):
    model = fresh_model(tiny_model_dir)
    apply_motion_lora(model.unet, "tap-k", rank=4)
    result = evaluate_adapter(model, references, CONFIG, SAMPLING, clip)
    assert len(result.per_video) == 4
    for row in result.per_video:
        assert row["appearance_leakage"] == 0.0
        assert row["motion_fidelity"] == row["base_motion_fidelity"]
        assert row["concept_motion_fidelity"] == row["base_concept_motion_fidelity"]
        assert -1.0 <= row["concept_motion_fidelity"] <= 1.0
        assert -1.0 <= row["motion_fidelity"] <= 1.0 and -100.0 <= row["text_alignment"] <= 100.0
    assert set(result.aggregate) >= {"motion_gain", "text_alignment_delta", "concept_motion_fidelity", "motion_fidelity",
                                     "text_alignment", "appearance_leakage", "appearance_diversity"}
    # output == base: no gain, exactly, and the interval says so
    assert result.aggregate["motion_gain"] == {"mean": 0.0, "ci95_low": 0.0, "ci95_high": 0.0, "n": 4}
    assert result.aggregate["text_alignment_delta"]["mean"] == 0.0
    assert not any(name.startswith("judge_") for name in result.aggregate)  # not shapes-world captions
    assert result.settings["judge"] is None and len(result.settings["pair_context"]) == 16


@pytest.mark.slow
def test_report_embeds_every_clip(tiny_model_dir, references, clip, tmp_path):
    model = fresh_model(tiny_model_dir)
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
        image = iio.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), extension=".gif", index=0)
        assert min(image.shape[:2]) >= 128  # 32×32 clips upscaled, not only stretched by CSS
    assert "motion_fidelity" in page and "95% CI" in page and "motion_gain" in page
    assert "motion learned: <b>" in page


def test_report_reads_from_the_top(references, tmp_path):
    from motionlora.evaluate.run import EvaluationResult

    rows = [{"prompt": "p", "prompt_index": 0, "seed": s, "concept_motion_fidelity": c, "base_concept_motion_fidelity": 0.1,
             "text_alignment": 60.0, "base_text_alignment": 61.0, "motion_fidelity": 0.0, "base_motion_fidelity": 0.0,
             "temporal_consistency": 90.0, "appearance_leakage": 0.2} for s, c in enumerate((0.8, 0.9))]
    videos = {f"{kind}-p00-s{s}": references[0] for kind in ("adapter", "base") for s in range(2)}
    result = EvaluationResult(rows, aggregate_rows(rows), {}, videos)
    title = title_sentence("zigzag", "tap-k", "all", 1.1)
    assert title == "Motion adapter for zigzag (preset tap-k, appearance highway all, β 1.1) against the base model"
    page = write_report(result, references, tmp_path / "r.html", title, verdict="failed: FAIL motion_gain").read_text()
    assert page.index(f"<h1>{title}</h1>") < page.index("motion learned") < page.index("Reference clips") \
        < page.index("Generated clips") < page.index("<h2>Metrics")
    # gains 0.7 and 0.8: mean 0.75, CI 0.75 ± 12.706·0.0707/√2 = [0.115, 1.385]
    assert "motion learned: <b>yes</b> (motion gain +0.750, 95% CI [+0.115, +1.385] over 2 prompt × seed pairs)" in page
    assert "Promotion gate: <b>failed: FAIL motion_gain</b>" in page


def test_upscale_is_nearest_neighbour():
    frames = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    big = upscale(frames, 5)
    assert big.shape == (2, 6, 6, 3) and (big[:, :3, :3] == frames[:, :1, :1]).all()
    assert upscale(np.zeros((2, 200, 200, 3), np.uint8)).shape == (2, 200, 200, 3)


def test_paired_aggregates_are_differences_over_the_same_pairs():
    rows = [{"concept_motion_fidelity": a, "base_concept_motion_fidelity": b, "text_alignment": ta, "base_text_alignment": tb,
             "motion_fidelity": 0.0, "base_motion_fidelity": 0.0, "temporal_consistency": 0.0, "appearance_leakage": leak}
            for a, b, ta, tb, leak in ((0.9, 0.2, 60.0, 62.0, 1.0), (0.7, 0.1, 58.0, 57.0, 2.0), (0.8, 0.3, 61.0, 63.0, 3.0))]
    aggregate = aggregate_rows(rows)
    # gains 0.7, 0.6, 0.5: mean 0.6, sd 0.1, half-width 4.302653·0.1/√3 = 0.248414
    gain = aggregate["motion_gain"]
    assert gain["mean"] == pytest.approx(0.6) and gain["n"] == 3
    assert gain["ci95_low"] == pytest.approx(0.351586, abs=1e-6) and gain["ci95_high"] == pytest.approx(0.848414, abs=1e-6)
    # text deltas -2, 1, -2: mean -1, sd √3, half-width 4.302653·√3/√3 = 4.302653
    delta = aggregate["text_alignment_delta"]
    assert delta["mean"] == pytest.approx(-1.0) and delta["ci95_low"] == pytest.approx(-5.302653, abs=1e-6)
    assert aggregate["appearance_leakage"]["mean"] == pytest.approx(2.0)
    assert list(aggregate)[:2] == ["motion_gain", "text_alignment_delta"]


def test_the_judges_readings_get_a_wilson_interval_inside_0_and_1():
    row = {"concept_motion_fidelity": 0.5, "base_concept_motion_fidelity": 0.1, "text_alignment": 60.0, "base_text_alignment": 60.0,
           "motion_fidelity": 0.0, "base_motion_fidelity": 0.0, "temporal_consistency": 0.0, "appearance_leakage": 0.0}
    rows = [{**row, "judge_motion_correct": float(i < 6), "base_judge_motion_correct": 0.0} for i in range(8)]
    aggregate = aggregate_rows(rows)
    # 6 of 8 right: Wilson 95% [0.4093, 0.9285] (a Student-t interval gives [0.36, 1.14])
    right = aggregate["judge_motion_correct"]
    assert right["mean"] == 0.75 and right["n"] == 8
    assert right["ci95_low"] == pytest.approx(0.409275, abs=1e-5) and right["ci95_high"] == pytest.approx(0.928521, abs=1e-5)
    # none right is still uncertain: 0 of 8 leaves up to 0.3244
    assert aggregate["base_judge_motion_correct"] == {"mean": 0.0, "ci95_low": 0.0, "ci95_high": pytest.approx(0.324408, abs=1e-5), "n": 8}


def test_captions_parse_back_into_what_they_ask_for():
    spec = ClipSpec(shape="circle", color="red", background="black", motion="zigzag")
    assert parse_caption(caption(spec)) == spec
    assert parse_caption("a blue square moving in a zigzag on a white background") == ClipSpec("square", "blue", "white", "zigzag")
    assert parse_caption("A green triangle bouncing on stripes.") == ClipSpec("triangle", "green", "stripes", "bounce")
    assert parse_caption("a red circle on black") is None
    assert parse_caption("a white square moving left on a white background") is None  # invisible: not a valid spec


def test_the_shapes_judge_reads_motion_attributes_and_leaks(references):
    prompts = ["a red circle moving in a zigzag on a black background", "a green triangle moving left on a white background"]
    judge = find_judge(prompts, references, "auto")  # the shapes world's, found by its entry point
    assert judge.reference_look == {"color": "green", "shape": "triangle", "background": "stripes"}
    asked = render_clip(ClipSpec("circle", "red", "black", "zigzag"), seed=3)
    assert judge.score(asked, 0) == {"judge_motion_correct": 1.0, "judge_attributes_correct": 1.0, "judge_leak_color": 0.0,
                                     "judge_leak_shape": 0.0, "judge_leak_background": 0.0}
    copied = references[1]  # the reference clip itself: green triangle zigzagging on stripes
    assert judge.score(copied, 0, prefix="base_") == {
        "base_judge_motion_correct": 1.0, "base_judge_attributes_correct": 0.0, "base_judge_leak_color": 1.0,
        "base_judge_leak_shape": 1.0, "base_judge_leak_background": 1.0}
    # prompt 1 asks for the references' colour and shape: only the background can leak
    assert judge.score(copied, 1) == {"judge_motion_correct": 0.0, "judge_attributes_correct": 0.0,
                                      "judge_leak_color": None, "judge_leak_shape": None, "judge_leak_background": 1.0}
    assert find_judge(["a red circle on black"], references, "auto") is None
    assert find_judge(prompts, references, "off") is None
    with pytest.raises(ValueError, match=r"no judge \(\['shapes'\]\) reads every prompt"):
        find_judge(["a red circle on black"], references, "on")


def test_no_prompts_is_an_error(tiny_model_dir, references, clip):
    model = fresh_model(tiny_model_dir)
    with pytest.raises(ValueError, match="prompt"):
        evaluate_adapter(model, references, EvaluationConfig(), SAMPLING, clip)
