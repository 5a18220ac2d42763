"""TrainConfig: recipes load, bad keys and values are refused by name, resumable changes are known."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from motionlora.config import load_config
from motionlora.registry.gate import GateConfig
from motionlora.train.config import TrainConfig, incompatible_changes

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(("recipe", "preset"), [("tiny.yaml", "tap-k"), ("zeroscope.yaml", "all"), ("shapes.yaml", "all")])
def test_shipped_recipes_have_a_train_section(recipe, preset):
    """The real-model and shapes recipes use the preset the shapes benchmark chose; the tiny smoke
    recipe keeps the smallest (tap-k)."""
    config = load_config(TrainConfig, CONFIGS / recipe, "train")
    assert config.preset == preset and config.dual_path


def test_zeroscope_recipe_is_the_gpu_setting():
    config = load_config(TrainConfig, CONFIGS / "zeroscope.yaml", "train")
    assert (config.mixed_precision, config.gradient_checkpointing, config.highway_scope) == ("bf16", True, "deepest")


def test_overrides_are_typed():
    config = load_config(TrainConfig, None, "train", ["rank=8", "learning_rate=0.001", 'validation_prompts=["a", "b"]', "pli_tau=600"])
    assert (config.rank, config.learning_rate, config.validation_prompts, config.pli_tau) == (8, 0.001, ("a", "b"), 600)


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rat'\].*'learning_rate'"):
        load_config(TrainConfig, None, "train", ["learning_rat=0.1"])


@pytest.mark.parametrize(
    ("override", "message"),
    [("preset=values", r"^defaults:train\.preset: must be one of \['all', .*\], got 'values'$"),
     ("mixed_precision=fp8", r"^defaults:train\.mixed_precision: must be 'no', 'bf16' or 'fp16', got 'fp8'$"),
     ("steps=0", r"^defaults:train\.steps: must be greater than or equal to 1, got 0$"),
     ("lr_schedule=step", "lr_schedule"), ("dropout=1.0", r"dropout: must be less than 1, got 1\.0"),
     ("highway_scope=some", r"highway_scope: must be 'off', 'all' or 'deepest', got 'some'")],
)
def test_bad_values_are_refused_by_name(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(TrainConfig, None, "train", [override])


@pytest.mark.parametrize("override", ["learning_rate=.nan", "spatial_learning_rate=.inf", "learning_rate=-.inf",
                                      "max_grad_norm=.inf", "highway_beta=.nan"])
def test_non_finite_numbers_are_refused_at_load_naming_the_key(override):
    key, value = override.split("=")
    with pytest.raises(ValueError, match=rf"^defaults:train\.{key}: must be a finite number, got -?(nan|inf)$"):
        load_config(TrainConfig, None, "train", [override])


def test_a_non_finite_gate_threshold_is_refused_too():
    with pytest.raises(ValueError, match=r"^defaults:gate\.min_motion_gain: must be a finite number, got nan$"):
        load_config(GateConfig, None, "gate", ["min_motion_gain=.nan"])


@pytest.mark.parametrize(("settings", "message"), [
    ({"learning_rate": float("nan")}, "learning_rate\n  Input should be a finite number"),
    ({"spatial_learning_rate": float("inf")}, "spatial_learning_rate\n  Input should be a finite number"),
    ({"spatial_learning_rate": 0.0}, "spatial_learning_rate\n  Input should be greater than 0"),
    ({"learning_rate": -1e-4}, "learning_rate\n  Input should be greater than 0"),
])
def test_learning_rates_must_be_finite_and_positive_however_the_config_is_built(settings, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        TrainConfig(**settings)


def test_resume_may_change_how_long_but_not_what_a_step_computes():
    saved = TrainConfig().to_dict()
    assert incompatible_changes(saved, TrainConfig(steps=900, checkpoint_every=7, validation_prompts=("x",))) == {}
    assert incompatible_changes(saved, TrainConfig(learning_rate=1.0, seed=3)) == {
        "learning_rate": (0.0005, 1.0), "seed": (0, 3)}


def test_resume_may_trade_batch_size_for_accumulation_after_running_out_of_memory():
    saved = TrainConfig(batch_size=4).to_dict()
    assert incompatible_changes(saved, TrainConfig(batch_size=2, gradient_accumulation=2, gradient_checkpointing=True)) == {}
    assert incompatible_changes(saved, TrainConfig(batch_size=2)) == {"batch_size": (4, 2)}
