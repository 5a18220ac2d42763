"""The learning-rate schedule of the motion-LoRA trainer and of the shapes world's pretraining:
linear warm-up, then constant, linear or cosine decay towards a floor.

diffusers' `get_scheduler` has no floor and warms up from 0 at the first step (this schedule starts
at 1/warmup_steps, so no step is wasted at lr 0), hence this one function.
"""

from __future__ import annotations

import math
from typing import Literal

Schedule = Literal["constant", "linear", "cosine"]


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, schedule: Schedule, floor: float = 0.0) -> float:
    """Learning-rate multiplier for (0-based) optimizer step `step`: (step + 1) / warmup_steps while
    warming up, then 1 (`constant`), or a linear or cosine decay from 1 at the end of warm-up to
    `floor` at `total_steps` (held there after)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "linear":
        return floor + (1.0 - floor) * (1.0 - progress)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
