"""The shapes benchmark: prompts that ask for other appearances, per-clip scores, the grid, the
Pareto front and recommendation (a whole run: tests/integration/test_shapes_benchmark_run.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from motionlora.config import load_config
from motionlora.motion.highway_settings import HighwaySettings
from shapesworld.benchmark import (
    BenchmarkConfig,
    ClipScorer,
    Variant,
    other_appearances,
    reference_spec,
    training_runs,
)
from shapesworld.benchmark_report import mark_pareto, recommend
from shapesworld.render import render_clip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip_model():
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
def zigzag(clip_model):
    """The zigzag concept's reference spec, one other appearance asked for, and a scorer on two reference clips."""
    reference = reference_spec("zigzag", BenchmarkConfig())
    asked = other_appearances(reference, 1, seed=3)[0]
    return reference, asked, ClipScorer(reference, [render_clip(reference, seed=s) for s in range(2)], clip_model)


def test_scores_a_faithful_clip_as_right_and_unleaked(zigzag):
    reference, asked, score = zigzag
    faithful = score(render_clip(asked, seed=7), asked)
    assert faithful["motion_correct"] == 1.0 and faithful["attributes_correct"] == 1.0 and faithful["leak_any"] == 0.0
    unmoved = score(render_clip(dataclasses.replace(asked, motion="still"), seed=7), asked)
    assert unmoved["motion_correct"] == 0.0
    assert faithful["concept_fidelity"] > 0.8 > 0.1 > unmoved["concept_fidelity"]


def test_scores_a_copy_of_the_reference_as_leaked(zigzag):
    reference, asked, score = zigzag
    copied = score(render_clip(reference, seed=9), asked)
    faithful = score(render_clip(asked, seed=9), asked)
    assert copied["leak_color"] == copied["leak_shape"] == copied["leak_background"] == copied["leak_any"] == 1.0
    assert copied["attributes_correct"] == 0.0 and copied["motion_correct"] == 1.0
    # A copy of the references looks like them to CLIP: cosine near 1 (x 100), well above another look.
    assert copied["reference_similarity"] > 90.0 > faithful["reference_similarity"] + 10.0


def test_config_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="left"):
        BenchmarkConfig(concepts=("left",))
    with pytest.raises(ValueError, match=r"steps\n  Value error, must ascend"):
        BenchmarkConfig(steps=(600, 200))
    with pytest.raises(ValueError, match="'sideways:1.1' — scope must be one of"):
        BenchmarkConfig(highways=("sideways:1.1",))
    with pytest.raises(ValueError, match=r"sweep_regime\n  Value error, must be one of \['dual-path', 'one-shot', 'temporal-only'\]"):
        BenchmarkConfig(sweep_regime="two-shot")


def test_variants_and_grid():
    config = BenchmarkConfig(regimes=("dual-path", "one-shot"), sweep_regime="one-shot", presets=("all", "tap-k"),
                             learning_rates=(0.001, 0.003), highways=("off", "deepest:1.1"), pli_taus=(400,))
    assert [v.label for v in config.variants()] == ["AH off", "AH deepest β=1.1", "AH off, PLI τ=400"]
    assert [run.key for run in training_runs(config)] == [
        "dual-path/bounce/all/lr0.001",
        "one-shot/bounce/all/lr0.001", "one-shot/bounce/all/lr0.003", "one-shot/bounce/tap-k/lr0.001", "one-shot/bounce/tap-k/lr0.003",
    ]
    assert config.clips_for("one-shot") == 1 and config.clips_for("dual-path") == config.reference_clips


def _row(preset: str, motion: float, leak: float, leak_high: float, steps: int = 200, lr: float = 0.001) -> dict:
    return {"preset": preset, "learning_rate": lr, "steps": steps, "variant": "AH off",
            "motion_correct": {"mean": motion}, "leak_any": {"mean": leak, "ci95_low": max(0.0, leak - 0.2), "ci95_high": leak_high}}


def test_pareto_front_and_recommendation():
    rows = [
        _row("all", 0.9, 0.6, 0.8),          # most motion, leaks clearly: on the front, not recommended
        _row("tap-k", 0.2, 0.0, 0.3),        # least leakage: on the front
        _row("tap-qk", 0.6, 0.1, 0.4),       # on the front, leakage like the base: recommended
        _row("tap-qk", 0.6, 0.1, 0.4, steps=600),  # the same point at more steps: the tie goes to fewer steps
        _row("reference", 0.5, 0.2, 0.5),    # dominated by tap-qk
    ]
    mark_pareto(rows)
    assert [r["pareto"] for r in rows] == [True, True, True, True, False]
    base = {"leak_any": {"mean": 0.0, "ci95_low": 0.0, "ci95_high": 0.32}}
    assert recommend(rows, base) == {"preset": "tap-qk", "learning_rate": 0.001, "steps": 200, "variant": "AH off"}
    assert recommend([rows[0]], base) is None


def test_the_recipe_sections_load():
    full = load_config(BenchmarkConfig, REPO / "configs" / "shapes.yaml", "benchmark", [])
    assert {"all", "tap-k", "tap-qk", "tap-qk-motion"} <= set(full.presets) and len(full.learning_rates) >= 2
    quick = load_config(BenchmarkConfig, REPO / "configs" / "shapes.yaml", "benchmark_quick", [])
    assert len(training_runs(quick)) < len(training_runs(full))


def test_variant_labels():
    assert Variant().label == "AH off"
    assert Variant(HighwaySettings("all", 1.1), 500).label == "AH all β=1.1, PLI τ=500"
