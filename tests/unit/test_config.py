"""Typed configs: recipes, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from motionlora.config import load_config
from motionlora.generate import SamplingConfig
from motionlora.train.config import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("recipe", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_loads(recipe):
    assert isinstance(load_config(SamplingConfig, recipe, "sampling"), SamplingConfig)


def test_overrides_win_and_are_typed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sampling:\n  steps: 10\n  highway: all\n")
    config = load_config(SamplingConfig, recipe, "sampling", ["steps=4", "beta=1.1", "pli_tau=null"])
    assert (config.steps, config.highway, config.beta, config.pli_tau) == (4, "all", 1.1, None)


def test_unknown_key_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['stepz'\].*'steps'"):
        load_config(SamplingConfig, None, "sampling", ["stepz=3"])


def test_wrong_type_names_the_key():
    with pytest.raises(ValueError, match="sampling.steps"):
        load_config(SamplingConfig, None, "sampling", ["steps=many"])


def test_malformed_override():
    with pytest.raises(ValueError, match="key=value"):
        load_config(SamplingConfig, None, "sampling", ["steps"])


def test_exponent_floats_without_a_dot_are_numbers():
    assert load_config(SamplingConfig, None, "sampling", ["beta=1e-1"]).beta == 0.1
    with pytest.raises(ValueError, match="sampling.beta"):
        load_config(SamplingConfig, None, "sampling", ["beta=lots"])


def test_an_override_that_is_not_yaml_is_one_line_naming_it():
    with pytest.raises(ValueError, match=r"^--set 'steps=\[1': the value is not valid YAML \(expected ',' or '\]', but got '<stream end>'\)$"):
        load_config(SamplingConfig, None, "sampling", ["steps=[1"])


def test_off_and_yes_are_words_not_booleans(tmp_path):
    """`highway_scope: off` must stay "off": YAML 1.1 would read it (and yes/no/on) as a boolean."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  highway_scope: off\n  dual_path: false\n")
    config = load_config(TrainConfig, recipe, "train", [])
    assert (config.highway_scope, config.dual_path) == ("off", False)
    assert load_config(TrainConfig, None, "train", ["highway_scope=off", "dual_path=true"]).highway_scope == "off"
    with pytest.raises(ValueError, match="dual_path: expected <class 'bool'>, got 'yes'"):
        load_config(TrainConfig, None, "train", ["dual_path=yes"])
