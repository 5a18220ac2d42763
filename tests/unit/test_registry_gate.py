"""The promotion gate on paired evidence: motion learned (CI of motion_gain), text kept, leakage
ceiling, no regression against the champion (paired test or, when not comparable, means), and
reasons people can read."""

from __future__ import annotations

import math

import pytest

from motionlora.registry.gate import Evidence, GateConfig, check_gate, mean_ci95

GATE = GateConfig(min_motion_gain=0.0, text_alignment_tolerance=5.0, max_appearance_leakage=3.0, tolerance=0.05)
T2 = 4.302653  # Student t 0.975 quantile, 2 degrees of freedom


def evidence(gain=0.2, low=0.1, high=0.3, n=8, text=-1.0, leak=0.5, pairs=None, context="ctx") -> Evidence:
    return Evidence(means={"motion_gain": gain, "text_alignment_delta": text, "appearance_leakage": leak},
                    ci95={"motion_gain": (low, high, n)}, pairs=pairs, pair_context=context)


def fails(decision) -> list[str]:
    return [r for r in decision.reasons if r.startswith("FAIL")]


def test_paired_mean_ci95_has_real_values():
    mean, low, high, n = mean_ci95([-0.05, 0.0, -0.1])
    half = T2 * 0.05 / math.sqrt(3)
    assert (mean, n) == (pytest.approx(-0.05), 3)
    assert low == pytest.approx(-0.05 - half, rel=1e-6) and high == pytest.approx(-0.05 + half, rel=1e-6)
    assert mean_ci95([0.4]) == (0.4, 0.4, 0.4, 1)


def test_a_learned_motion_passes_without_a_champion():
    decision = check_gate(evidence(), None, GATE)
    assert decision.passed and decision.champion is None
    assert decision.reasons[0] == ("ok motion_gain 0.2000, 95% CI [0.1000, 0.3000] over 8 pairs: "
                                   "lower bound 0.1000 > min_motion_gain 0.0000")
    assert "ok no champion yet: nothing to compare with" in decision.reasons


@pytest.mark.parametrize("kwargs, failing", [
    ({"gain": 0.05, "low": -0.02, "high": 0.12}, "FAIL motion_gain 0.0500, 95% CI [-0.0200, 0.1200] over 8 pairs: "
                                                  "lower bound -0.0200 <= min_motion_gain 0.0000"),
    ({"gain": 0.0, "low": 0.0, "high": 0.0}, "lower bound 0.0000 <= min_motion_gain"),  # adapter == base
    ({"gain": 0.9, "low": 0.9, "high": 0.9, "n": 1}, "FAIL motion_gain 0.9000 from 1 prompt × seed pair: no confidence interval"),
    ({"text": -5.01}, "FAIL text_alignment_delta -5.0100 < -text_alignment_tolerance -5.0000"),
    ({"leak": 3.2}, "FAIL appearance_leakage 3.2000 > max_appearance_leakage 3.0000"),
    ({"leak": math.nan}, "FAIL appearance_leakage: missing"),
])
def test_each_rule_fails_alone_and_says_which(kwargs, failing):
    decision = check_gate(evidence(**kwargs), None, GATE)
    assert not decision.passed
    [reason] = fails(decision)
    assert reason.startswith(failing) or failing in reason


def judged(motion: float, **leaks: float) -> Evidence:
    base = evidence()
    means = {**base.means, "judge_motion_correct": motion, **{f"judge_leak_{k}": v for k, v in leaks.items()}}
    return Evidence(means=means, ci95=base.ci95, pairs=base.pairs, pair_context=base.pair_context)


def test_where_the_judge_read_the_clips_its_readings_decide():
    # the make-run adapter trained with lr 4e-3 x 200: motion_gain's CI was above 0, the judge read 1 bounce in 8
    decision = check_gate(judged(0.125, background=0.25), None, GATE)
    assert not decision.passed
    assert fails(decision) == ["FAIL judge_motion_correct 0.1250 < min_judge_motion_correct 0.5000"]
    # the over-trained one-shot adapter: it moves, and copies the references' background in 71% of clips
    decision = check_gate(judged(0.875, color=0.0, shape=0.0, background=0.71), None, GATE)
    assert fails(decision) == ["FAIL judge_leak_background 0.7100 (the highest judged leak) > max_judge_leak 0.2500"]
    assert check_gate(judged(0.75, color=0.0, background=0.125), None, GATE).passed  # the make-run champion's readings


def test_without_a_judge_its_rules_say_so_and_do_not_apply():
    decision = check_gate(evidence(), None, GATE)
    assert decision.passed
    assert ("ok no ground-truth judge read these clips (the prompts are not a judged world's): judge rules not applied"
            in decision.reasons)


def test_text_and_leakage_at_their_limits_pass():
    assert check_gate(evidence(text=-5.0, leak=3.0), None, GATE).passed


def test_an_old_version_without_the_new_tags_fails_clearly_instead_of_crashing():
    old = {"motion_fidelity": 0.4, "text_alignment": 60.0}  # what versions registered before motion_gain carry
    decision = check_gate(old, None, GATE)
    assert not decision.passed
    assert [r.split(":")[0] for r in fails(decision)] == [
        "FAIL motion_gain 95% CI", "FAIL text_alignment_delta", "FAIL appearance_leakage"]
    assert all("missing" in r for r in fails(decision))


def test_no_regression_is_a_paired_test_on_the_shared_pairs():
    champion = evidence(pairs={"0|a": 0.55, "0|b": 0.6, "0|c": 0.8})
    # diffs -0.05, 0, -0.1: mean -0.05, CI upper -0.05 + 4.3027·0.05/√3 = 0.0742 >= -0.05
    candidate = evidence(pairs={"0|a": 0.5, "0|b": 0.6, "0|c": 0.7})
    decision = check_gate(candidate, champion, GATE, "3")
    assert decision.passed and decision.champion == "3"
    assert decision.reasons[-1] == ("ok no regression against champion v3 (paired t-test on 3 shared prompt × seed pairs): "
                                    "concept_motion_fidelity candidate − champion -0.0500, 95% CI [-0.1742, 0.0742], "
                                    "upper bound 0.0742 >= -tolerance -0.0500")


def test_significantly_worse_than_the_champion_fails():
    champion = evidence(pairs={"0|a": 0.8, "0|b": 0.8, "0|c": 0.8})
    # diffs -0.3, -0.2, -0.4: mean -0.3, upper -0.3 + 4.3027·0.1/√3 = -0.0516 < -0.05
    candidate = evidence(pairs={"0|a": 0.5, "0|b": 0.6, "0|c": 0.4})
    decision = check_gate(candidate, champion, GATE, "3")
    assert not decision.passed
    [reason] = fails(decision)
    assert reason.startswith("FAIL no regression against champion v3 (paired t-test on 3 shared")
    assert "upper bound -0.0516 < -tolerance -0.0500" in reason


def test_pairs_that_do_not_match_fall_back_to_the_motion_gain_means_and_say_so():
    champion = evidence(gain=0.3, pairs={"0|a": 0.8, "1|a": 0.8}, context="other base model")
    candidate = evidence(gain=0.26, pairs={"0|a": 0.1, "1|a": 0.1})
    decision = check_gate(candidate, champion, GATE, "2")
    assert decision.passed
    assert decision.reasons[-1] == ("ok no regression against champion v2 (not comparable pair by pair: they were "
                                    "evaluated with a different base model or sampling settings; compared motion_gain "
                                    "means): 0.2600 >= 0.3000 - tolerance 0.0500")
    worse = check_gate(evidence(gain=0.249, pairs={"0|z": 0.1, "1|z": 0.1}), evidence(gain=0.3, pairs={"0|a": 0.8}), GATE, "2")
    assert not worse.passed
    assert "share 0 prompt × seed pair(s), fewer than 2; compared motion_gain means): 0.2490 < 0.3000" in fails(worse)[0]


def test_a_champion_from_before_motion_gain_is_not_held_against_the_candidate():
    decision = check_gate(evidence(), {"motion_fidelity": 0.9}, GATE, "1")
    assert decision.passed
    assert decision.reasons[-1] == "ok champion v1 has no motion_gain recorded (evaluated before it existed): nothing to compare with"


def test_settings_round_trip_and_are_checked():
    assert GateConfig.from_json(GATE.to_json()) == GATE
    with pytest.raises(ValueError, match="tolerance"):
        GateConfig(tolerance=-0.1)
    with pytest.raises(ValueError, match="text_alignment_tolerance"):
        GateConfig(text_alignment_tolerance=-1.0)
    with pytest.raises(ValueError, match="unknown key"):
        GateConfig.from_json('{"min_motion_fidelity": 1}')
    with pytest.raises(ValueError, match="min_judge_motion_correct"):
        GateConfig(min_judge_motion_correct=1.5)
    recorded_before_the_judge_rules = '{"max_appearance_leakage": 3.0, "min_motion_gain": 0.0, "text_alignment_tolerance": 5.0, "tolerance": 0.05}'
    assert GateConfig.from_json(recorded_before_the_judge_rules) == GATE
