"""The motion-LoRA presets by name: which linears of each temporal transformer block a preset puts
the motion LoRA on, and what it is trained on (`tap.py` says why). Plain data, so that the steps
that only read an adapter's motion.json (registration) check its preset without loading torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MOTION_ADAPTER = "motion"

Objective = Literal["diffusion", "frame-difference"]


@dataclass(frozen=True)
class MotionPreset:
    """`targets`: the linears inside every BasicTransformerBlock of every temporal transformer;
    `objective`: what the temporal path's LoRA is trained on."""

    targets: tuple[str, ...]
    objective: Objective = "diffusion"


_ATTN = ("attn1", "attn2")
_QK = tuple(f"{a}.{p}" for a in _ATTN for p in ("to_q", "to_k"))
# The default, chosen by measurement (benchmarks/RESULTS.md "Which recipe wins"): the most motion
# learned at the budgets tried, with no judged leakage below 3x the recommended budget.
DEFAULT_PRESET = "all"
# Every preset, in the order the shapes-world benchmark trains them: first the MotionDirector-like
# `all`, the recipe its leakage part measures, then the narrower ones.
PRESETS: dict[str, MotionPreset] = {
    "all": MotionPreset(tuple(f"{a}.{p}" for a in _ATTN for p in ("to_q", "to_k", "to_v", "to_out.0")) + ("ff.net.0.proj", "ff.net.2")),
    "reference": MotionPreset(tuple(f"{a}.{p}" for a in _ATTN for p in ("to_k", "to_out.0"))),
    "tap-k": MotionPreset(tuple(f"{a}.to_k" for a in _ATTN)),
    "tap-qk": MotionPreset(_QK),
    "tap-qk-motion": MotionPreset(_QK, objective="frame-difference"),
}
