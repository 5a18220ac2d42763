"""Typed configs: recipes, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from motionlora.config import load_config
from motionlora.evaluate.run import EvaluationConfig
from motionlora.sampling import SamplingConfig, sampling_config
from motionlora.motion.highway_settings import HighwaySettings
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
    with pytest.raises(ValueError, match=r"^defaults:train\.dual_path: must be a valid boolean, got 'yes'$"):
        load_config(TrainConfig, None, "train", ["dual_path=yes"])


def test_every_element_of_a_list_is_checked_and_named():
    with pytest.raises(ValueError, match=r"^defaults:evaluate\.seeds\.0: must be a valid integer, got 'a'; "
                                         r"defaults:evaluate\.seeds\.1: must be a valid integer, got None$"):
        load_config(EvaluationConfig, None, "evaluate", ["seeds=['a', null]"])
    assert load_config(EvaluationConfig, None, "evaluate", ["seeds=[3, 4]"]).seeds == (3, 4)


def test_numbers_are_not_read_from_strings_nor_counts_from_floats():
    with pytest.raises(ValueError, match=r"^defaults:sampling\.steps: must be a valid integer, got '4'$"):
        load_config(SamplingConfig, None, "sampling", ["steps='4'"])
    with pytest.raises(ValueError, match=r"^defaults:sampling\.frames: must be a valid integer, got 8\.0$"):
        load_config(SamplingConfig, None, "sampling", ["frames=8.0"])
    assert load_config(SamplingConfig, None, "sampling", ["beta=2"]).beta == 2.0


def test_sampling_settings_come_in_one_order(tmp_path):
    """Defaults < recipe (+ overrides) < the adapter's highway and PLI τ < the caller's settings."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sampling:\n  steps: 10\n  highway: all\n  beta: 1.3\n  pli_tau: 100\n")
    adapter = TrainConfig(highway_scope="deepest", highway_beta=1.2, pli_tau=600)
    config = sampling_config(recipe, ["frames=4"], adapter, beta=0.9)
    assert (config.steps, config.frames, config.highway, config.beta, config.pli_tau) == (10, 4, "deepest", 0.9, 600)
    assert sampling_config(recipe).highway_settings == HighwaySettings("all", 1.3)
    assert sampling_config() == SamplingConfig()
