"""The promotion gate: floors, the no-regression rule, and reasons people can read."""

from __future__ import annotations

import math

import pytest

from motionlora.registry.gate import GateConfig, check_gate

GATE = GateConfig(min_motion_fidelity=0.3, min_text_alignment=20.0, tolerance=0.05)


def test_without_a_champion_only_the_floors_count():
    decision = check_gate({"motion_fidelity": 0.31, "text_alignment": 20.0}, None, GATE)
    assert decision.passed and decision.champion is None
    assert any("no champion yet" in r for r in decision.reasons)


@pytest.mark.parametrize("metrics, failing", [
    ({"motion_fidelity": 0.29, "text_alignment": 25.0}, "motion_fidelity 0.2900 < floor 0.3000"),
    ({"motion_fidelity": 0.5, "text_alignment": 19.9}, "text_alignment 19.9000 < floor 20.0000"),
    ({"text_alignment": 25.0}, "motion_fidelity: missing"),
    ({"motion_fidelity": math.nan, "text_alignment": 25.0}, "motion_fidelity: missing"),
])
def test_a_floor_not_reached_fails_and_says_which(metrics, failing):
    decision = check_gate(metrics, None, GATE)
    assert not decision.passed
    assert [r for r in decision.reasons if r.startswith("FAIL")] == [next(r for r in decision.reasons if failing in r)]
    assert decision.describe().count("FAIL") == 1


def test_no_worse_than_the_champion_beyond_the_tolerance():
    champion = {"motion_fidelity": 0.6, "text_alignment": 30.0}
    assert check_gate({"motion_fidelity": 0.55, "text_alignment": 21.0}, champion, GATE, "3").passed
    worse = check_gate({"motion_fidelity": 0.549, "text_alignment": 30.0}, champion, GATE, "3")
    assert not worse.passed and worse.champion == "3"
    assert "FAIL motion_fidelity 0.5490 < champion v3's 0.6000 - tolerance 0.0500" in worse.reasons


def test_a_champion_without_the_primary_metric_is_not_compared():
    assert check_gate({"motion_fidelity": 0.4, "text_alignment": 25.0}, {}, GATE, "1").passed


def test_settings_round_trip_and_are_checked():
    assert GateConfig.from_json(GATE.to_json()) == GATE
    with pytest.raises(ValueError, match="tolerance"):
        GateConfig(tolerance=-0.1)
    with pytest.raises(ValueError, match="unknown key"):
        GateConfig.from_json('{"min_motion": 1}')
