"""README's settings tables are generated from the settings classes: a change to a setting's
default or meaning that is not in README fails here (`make docs` rewrites the tables)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from motionlora.config import settings_class
from motionlora.motion.highway_settings import HighwaySettings
from motionlora.settings_docs import TABLE, render, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"
# Every settings class a recipe section is loaded into.
RECIPE_SECTIONS = {
    "motionlora.train.config:TrainConfig", "motionlora.sampling:SamplingConfig", "motionlora.evaluate.run:EvaluationConfig",
    "motionlora.registry.gate:GateConfig", "shapesworld.pretrain:PretrainConfig", "shapesworld.clip_train:ClipTrainConfig",
    "shapesworld.benchmark:BenchmarkConfig",
}


def test_readme_tables_are_the_generated_ones():
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "README's settings tables differ from the settings classes: run `make docs`"


def test_readme_has_a_table_for_every_recipe_section():
    assert {match["target"] for match in TABLE.finditer(README.read_text(encoding="utf-8"))} == RECIPE_SECTIONS


def test_a_table_row_holds_the_key_its_meaning_and_its_default_as_a_recipe_spells_it():
    assert settings_table(HighwaySettings) == [
        "| key | meaning | default |",
        "|---|---|---|",
        "| `scope` | appearance-highway scope: `off`, `all` (every cross-attention down block), `deepest` (only the skips "
        "that feed `up_blocks[1]`, as the authors' code) | `all` |",
        "| `beta` | appearance-highway scale β on the spatial output (the paper's best: 1.1) | `1.1` |",
    ]


def test_an_indented_table_stays_indented_and_text_around_it_is_kept():
    text = "intro\n  <!-- settings: motionlora.motion.highway:HighwaySettings -->\n  stale\n  <!-- /settings -->\nend\n"
    rendered = render(text)
    assert rendered.startswith("intro\n  <!-- settings: motionlora.motion.highway:HighwaySettings -->\n  | key | meaning | default |\n")
    assert rendered.endswith("| `1.1` |\n  <!-- /settings -->\nend\n") and "stale" not in rendered
    assert render(rendered) == rendered


def test_a_setting_without_a_meaning_is_refused():
    from pydantic import Field

    @settings_class
    class Undocumented:
        documented: int = Field(1, description="has one")
        bare: str = "x"

    with pytest.raises(ValueError, match=re.escape("Undocumented.bare has no description")):
        settings_table(Undocumented)
