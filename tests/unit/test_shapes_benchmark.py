"""The shapes benchmark: prompts that ask for other appearances, per-clip scores, and a smoke run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from motionlora.config import load_config
from motionlora.shapes.benchmark import (
    HIGHWAYS,
    METRICS,
    OWN_PROMPT_METRIC,
    BenchmarkConfig,
    other_appearances,
    reference_spec,
    run_benchmark,
    score_clip,
)
from motionlora.shapes.render import render_clip, trajectory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip_scorer():
    from motionlora.evaluate.clip import load_clip

    return load_clip(REPO / "models" / "shapes-clip")


def test_prompts_ask_for_a_different_colour_shape_and_background():
    reference = reference_spec("zigzag", BenchmarkConfig())
    specs = other_appearances(reference, 12, seed=0)
    assert len(specs) == 12 and len(set(specs)) == 12
    for spec in specs:
        assert spec.motion == "zigzag"
        assert spec.color != reference.color and spec.shape != reference.shape and spec.background != reference.background
    assert other_appearances(reference, 12, seed=0) == specs


@pytest.fixture
def zigzag():
    """The zigzag concept's reference spec, one other appearance asked for, two reference clips and their tracks."""
    reference = reference_spec("zigzag", BenchmarkConfig())
    asked = other_appearances(reference, 1, seed=3)[0]
    return reference, asked, [render_clip(reference, seed=s) for s in range(2)], [trajectory(reference, seed=s) for s in range(2)]


def test_scores_a_faithful_clip_as_right_and_unleaked(zigzag, clip_scorer):
    reference, asked, references, tracks = zigzag
    faithful = score_clip(render_clip(asked, seed=7), asked, reference, references, tracks, clip_scorer)
    assert set(faithful) == set(METRICS)
    assert faithful["motion_correct"] == 1.0 and faithful["attributes_correct"] == 1.0 and faithful["leak_any"] == 0.0
    still = dataclasses.replace(asked, motion="still")
    unmoved = score_clip(render_clip(still, seed=7), asked, reference, references, tracks, clip_scorer)
    assert unmoved["motion_correct"] == 0.0 and unmoved["motion_fidelity"] < faithful["motion_fidelity"]


def test_scores_a_copy_of_the_reference_as_leaked(zigzag, clip_scorer):
    reference, asked, references, tracks = zigzag
    copied = score_clip(render_clip(reference, seed=9), asked, reference, references, tracks, clip_scorer)
    assert copied["leak_color"] == copied["leak_shape"] == copied["leak_background"] == copied["leak_any"] == 1.0
    assert copied["attributes_correct"] == 0.0 and copied["motion_correct"] == 1.0


def test_unknown_concept_is_refused():
    with pytest.raises(ValueError, match="left"):
        BenchmarkConfig(concepts=("left",))


def test_the_recipe_section_loads():
    config = load_config(BenchmarkConfig, REPO / "configs" / "shapes.yaml", "benchmark", [])
    assert len(config.concepts) >= 3 and set(config.presets) == {"all", "reference", "tap-k", "tap-qk"}


def test_smoke_run_writes_table_plot_and_results(tmp_path):
    config = BenchmarkConfig(concepts=("bounce",), presets=("tap-k",), reference_clips=2, prompts=1, seeds=2, steps=2,
                             batch_size=1, sampling_steps=2)
    results = run_benchmark(str(REPO / "models" / "shapes"), str(REPO / "models" / "shapes-clip"), tmp_path, config)
    cells = {(c["preset"], c["highway"]): c for c in results["cells"]}
    assert set(cells) == {("rendered clips", "-"), ("base model", "-")} | {("tap-k", label) for label, _, _ in HIGHWAYS}
    for cell in cells.values():
        assert cell["clips"] == 2
        assert cell["leak_any"]["ci95_low"] <= cell["leak_any"]["mean"] <= cell["leak_any"]["ci95_high"]
    assert cells[("rendered clips", "-")][OWN_PROMPT_METRIC]["mean"] == 1.0
    assert 0.0 <= cells[("tap-k", "off")][OWN_PROMPT_METRIC]["mean"] <= 1.0
    assert json.loads((tmp_path / "results.json").read_text())["cells"] == results["cells"]
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n| tap-k |") == len(HIGHWAYS) and "motion on ref. prompt" in table.splitlines()[0]
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "work" / "bounce" / "tap-k" / "adapter" / "adapter_model.safetensors").is_file()
