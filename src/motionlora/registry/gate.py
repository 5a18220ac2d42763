"""The promotion gate: may a candidate version replace the champion?

Two kinds of rule, both on aggregate evaluation means:
* absolute floors — motion fidelity and text alignment must reach a minimum, so a broken adapter
  never serves even when there is no champion to compare with;
* no regression — the primary score (motion fidelity) may be below the current champion's by at
  most `tolerance`, so evaluation noise does not block every retrain while a real regression does.

A pure function of numbers: the registry code reads the numbers, this decides, and every check
becomes a reason string so the decision can be stored and read by people.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Mapping

PRIMARY_METRIC = "motion_fidelity"
TEXT_METRIC = "text_alignment"


@dataclass(frozen=True)
class GateConfig:
    """The `gate` section of a recipe; pipeline parameters of the same names override it."""

    min_motion_fidelity: float = 0.0
    min_text_alignment: float = 0.0
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if not self.tolerance >= 0:
            raise ValueError(f"gate tolerance must be >= 0, got {self.tolerance}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateConfig:
        from motionlora.config import config_from_dict

        return config_from_dict(cls, json.loads(text), "recorded gate settings")


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


def _value(metrics: Mapping[str, float], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _floor(metrics: Mapping[str, float], name: str, floor: float) -> tuple[bool, str]:
    value = _value(metrics, name)
    if value is None:
        return False, f"FAIL {name}: missing from the candidate's evaluation"
    ok = value >= floor
    return ok, f"{'ok' if ok else 'FAIL'} {name} {value:.4f} {'>=' if ok else '<'} floor {floor:.4f}"


def check_gate(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    config: GateConfig,
    champion_version: str | None = None,
) -> GateDecision:
    """Apply the floors, then the no-regression rule against `champion` (None: no champion yet)."""
    checks = [
        _floor(candidate, PRIMARY_METRIC, config.min_motion_fidelity),
        _floor(candidate, TEXT_METRIC, config.min_text_alignment),
    ]
    if champion is None:
        checks.append((True, "ok no champion yet: nothing to compare with"))
    else:
        mine, theirs = _value(candidate, PRIMARY_METRIC), _value(champion, PRIMARY_METRIC)
        who = f"champion v{champion_version}" if champion_version else "the champion"
        if theirs is None:
            checks.append((True, f"ok {who} has no {PRIMARY_METRIC} recorded: nothing to compare with"))
        elif mine is not None:
            bar = theirs - config.tolerance
            ok = mine >= bar
            checks.append((ok, f"{'ok' if ok else 'FAIL'} {PRIMARY_METRIC} {mine:.4f} {'>=' if ok else '<'} "
                               f"{who}'s {theirs:.4f} - tolerance {config.tolerance:.4f}"))
    return GateDecision(all(ok for ok, _ in checks), tuple(reason for _, reason in checks), champion_version)
