"""The promotion gate: may a candidate version replace the champion?

Every rule reads the candidate's *paired* evaluation evidence (adapter against the base model on
the same prompt × seed pairs), so a version that learned nothing cannot pass by luck of the seeds:

* motion learned — the lower bound of the Student-t 95% CI of `motion_gain` (concept motion
  fidelity, adapter − base, over the pairs) must exceed `min_motion_gain`; one pair has no
  interval and fails;
* text still followed — the mean `text_alignment_delta` (adapter − base CLIP score) must be at
  least `-text_alignment_tolerance`;
* appearance not copied — the mean `appearance_leakage` (a paired difference too) must be at most
  `max_appearance_leakage`;
* where a ground-truth judge read the clips (`evaluate.judges`; the shapes world's), its readings
  too: the fraction of clips moving as the prompt asks must be at least `min_judge_motion_correct`,
  and the fraction showing the reference clips' colour, shape or background instead of the asked
  one at most `max_judge_leak`. The CLIP metrics estimate; the judge measures, so where it exists it
  has the last word (a 1-in-8 adapter once passed on `motion_gain` alone). Without a judge (real
  models) these two rules say so and do not apply;
* no regression against the champion — when both were evaluated on the same prompt × seed pairs
  under the same base model and sampling, a paired test: the 95% CI upper bound of candidate −
  champion concept motion fidelity over the shared pairs must be >= `-tolerance` (not
  significantly worse by more than the tolerance); otherwise the `motion_gain` means are compared
  with the tolerance, and the reason says the pairs were not comparable.

A pure function of numbers: the registry code reads the evidence, this decides, and every check
becomes a sentence ("ok ..." or "FAIL ...") so the decision can be stored and read by people.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from pydantic import Field

from motionlora.config import config_from_dict, settings_class
from motionlora.evaluate.judges import JUDGE_LEAKS
from motionlora.stats import mean_ci95

MOTION_GAIN = "motion_gain"
TEXT_DELTA = "text_alignment_delta"
LEAKAGE = "appearance_leakage"
PAIR_METRIC = "concept_motion_fidelity"
JUDGE_MOTION = "judge_motion_correct"
JUDGE_LEAK_METRICS = tuple(f"judge_leak_{attribute}" for attribute in JUDGE_LEAKS)
# The metrics whose 95% CI the registry records on a version (the gate reads motion_gain's).
CI_METRICS = (MOTION_GAIN, TEXT_DELTA, LEAKAGE, PAIR_METRIC)
MIN_SHARED_PAIRS = 2


@settings_class
class GateConfig:
    """The `gate` section of a recipe; pipeline parameters of the same names override it."""

    min_motion_gain: float = Field(0.0, description="the lower bound of the 95% CI of `motion_gain` must be above it "
                                   "(0.0: the gain is positive with 95% confidence; one pair has no interval and fails)")
    text_alignment_tolerance: float = Field(5.0, ge=0, description="CLIP points (× 100) the adapter may cost the prompt: "
                                            "the mean `text_alignment_delta` must be at least minus this")
    max_appearance_leakage: float = Field(5.0, description="ceiling on the mean `appearance_leakage` (CLIP similarity to "
                                          "the reference frames minus the base model's, × 100)")
    min_judge_motion_correct: float = Field(0.5, ge=0, le=1, description="where a ground-truth judge read the clips "
                                            "(the shapes world): the fraction of adapter clips whose motion it reads as "
                                            "the prompt's must be at least this (0 turns the rule off)")
    max_judge_leak: float = Field(0.25, ge=0, le=1, description="where a judge read the clips: ceiling on the fraction "
                                  "of adapter clips showing the reference clips' colour, shape or background instead of "
                                  "the prompt's, for each attribute (1 turns the rule off)")
    tolerance: float = Field(0.05, ge=0, description="how much worse than the champion is still no regression: the 95% "
                             "CI upper bound of candidate − champion concept motion fidelity over the shared pairs must be "
                             "at least minus this (the `motion_gain` means when the pairs are not comparable)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateConfig:
        return config_from_dict(cls, json.loads(text), "recorded gate settings")


@dataclass(frozen=True)
class Evidence:
    """What the gate knows of one version: aggregate means, 95% CIs (low, high, n) of some metrics,
    and the per-pair concept motion fidelity of its adapter clips with the context that makes
    pairs comparable (base model and sampling settings)."""

    means: Mapping[str, float] = field(default_factory=dict)
    ci95: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)
    pairs: Mapping[str, float] | None = None
    pair_context: str | None = None

    @classmethod
    def of(cls, value: Evidence | Mapping[str, float]) -> Evidence:
        return value if isinstance(value, Evidence) else cls(means=dict(value))


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate passed, every check as a sentence, and the champion compared with."""

    passed: bool
    reasons: tuple[str, ...]
    champion: str | None = None

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    def describe(self) -> str:
        """One line per check, failures marked, for tags, logs and the CLI."""
        return "\n".join(self.reasons)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def _missing(name: str) -> tuple[bool, str]:
    return False, (f"FAIL {name}: missing from the candidate's evaluation (a version evaluated before "
                   f"{name} existed must be re-evaluated, or promoted with --force --reason)")


def _motion_learned(candidate: Evidence, config: GateConfig) -> tuple[bool, str]:
    ci = candidate.ci95.get(MOTION_GAIN)
    mean = _finite(candidate.means.get(MOTION_GAIN))
    if ci is None or mean is None or _finite(ci[0]) is None:
        return _missing(f"{MOTION_GAIN} 95% CI")
    low, high, n = float(ci[0]), float(ci[1]), int(ci[2])
    if n < 2:
        return False, (f"FAIL {MOTION_GAIN} {mean:.4f} from {n} prompt × seed pair: no confidence interval, "
                       "so a learned motion cannot be shown (evaluate more pairs)")
    ok = low > config.min_motion_gain
    return ok, (f"{_mark(ok)} {MOTION_GAIN} {mean:.4f}, 95% CI [{low:.4f}, {high:.4f}] over {n} pairs: "
                f"lower bound {low:.4f} {'>' if ok else '<='} min_motion_gain {config.min_motion_gain:.4f}")


def _text_kept(candidate: Evidence, config: GateConfig) -> tuple[bool, str]:
    value = _finite(candidate.means.get(TEXT_DELTA))
    if value is None:
        return _missing(TEXT_DELTA)
    floor = -config.text_alignment_tolerance
    ok = value >= floor
    return ok, f"{_mark(ok)} {TEXT_DELTA} {value:.4f} {'>=' if ok else '<'} -text_alignment_tolerance {floor:.4f}"


def _leakage(candidate: Evidence, config: GateConfig) -> tuple[bool, str]:
    value = _finite(candidate.means.get(LEAKAGE))
    if value is None:
        return _missing(LEAKAGE)
    ok = value <= config.max_appearance_leakage
    return ok, (f"{_mark(ok)} {LEAKAGE} {value:.4f} {'<=' if ok else '>'} "
                f"max_appearance_leakage {config.max_appearance_leakage:.4f}")


def _judged(candidate: Evidence, config: GateConfig) -> list[tuple[bool, str]]:
    """The judge's readings against their floors, or one line saying no judge read these clips."""
    motion = _finite(candidate.means.get(JUDGE_MOTION))
    if motion is None:
        return [(True, "ok no ground-truth judge read these clips (the prompts are not a judged world's): "
                       "judge rules not applied")]
    ok = motion >= config.min_judge_motion_correct
    checks = [(ok, f"{_mark(ok)} {JUDGE_MOTION} {motion:.4f} {'>=' if ok else '<'} "
                   f"min_judge_motion_correct {config.min_judge_motion_correct:.4f}")]
    leaks = {name: value for name in JUDGE_LEAK_METRICS if (value := _finite(candidate.means.get(name))) is not None}
    if leaks:
        name, worst = max(leaks.items(), key=lambda item: item[1])
        ok = worst <= config.max_judge_leak
        checks.append((ok, f"{_mark(ok)} {name} {worst:.4f} (the highest judged leak) {'<=' if ok else '>'} "
                           f"max_judge_leak {config.max_judge_leak:.4f}"))
    return checks


def _shared_pairs(candidate: Evidence, champion: Evidence) -> tuple[list[str], str | None]:
    """The pairs both were evaluated on, or why they cannot be compared pair by pair."""
    if not candidate.pairs:
        return [], "the candidate has no per-pair scores recorded"
    if not champion.pairs:
        return [], "the champion has no per-pair scores recorded"
    if candidate.pair_context != champion.pair_context:
        return [], "they were evaluated with a different base model or sampling settings"
    shared = sorted(set(candidate.pairs) & set(champion.pairs))
    if len(shared) < MIN_SHARED_PAIRS:
        return [], f"they share {len(shared)} prompt × seed pair(s), fewer than {MIN_SHARED_PAIRS}"
    return shared, None


def _no_regression(candidate: Evidence, champion: Evidence, config: GateConfig, who: str) -> tuple[bool, str]:
    shared, why_not = _shared_pairs(candidate, champion)
    if why_not is None:
        diffs = [float(candidate.pairs[k]) - float(champion.pairs[k]) for k in shared]  # type: ignore[index]
        mean, low, high, n = mean_ci95(diffs)
        ok = high >= -config.tolerance
        return ok, (f"{_mark(ok)} no regression against {who} (paired t-test on {n} shared prompt × seed pairs): "
                    f"{PAIR_METRIC} candidate − champion {mean:.4f}, 95% CI [{low:.4f}, {high:.4f}], upper bound "
                    f"{high:.4f} {'>=' if ok else '<'} -tolerance {-config.tolerance:.4f}")
    mine, theirs = _finite(candidate.means.get(MOTION_GAIN)), _finite(champion.means.get(MOTION_GAIN))
    if theirs is None:
        return True, f"ok {who} has no {MOTION_GAIN} recorded (evaluated before it existed): nothing to compare with"
    if mine is None:
        return _missing(MOTION_GAIN)
    bar = theirs - config.tolerance
    ok = mine >= bar
    return ok, (f"{_mark(ok)} no regression against {who} (not comparable pair by pair: {why_not}; "
                f"compared {MOTION_GAIN} means): {mine:.4f} {'>=' if ok else '<'} {theirs:.4f} "
                f"- tolerance {config.tolerance:.4f}")


def check_gate(
    candidate: Evidence | Mapping[str, float],
    champion: Evidence | Mapping[str, float] | None,
    config: GateConfig,
    champion_version: str | None = None,
) -> GateDecision:
    """Apply the candidate's own rules, then the no-regression rule against `champion` (None: none yet)."""
    mine = Evidence.of(candidate)
    checks = [_motion_learned(mine, config), _text_kept(mine, config), _leakage(mine, config), *_judged(mine, config)]
    if champion is None:
        checks.append((True, "ok no champion yet: nothing to compare with"))
    else:
        who = f"champion v{champion_version}" if champion_version else "the champion"
        checks.append(_no_regression(mine, Evidence.of(champion), config, who))
    return GateDecision(all(ok for ok, _ in checks), tuple(reason for _, reason in checks), champion_version)
