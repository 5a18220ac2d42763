"""Judges: readers that know what a prompt asks for and check a generated clip against it.

The CLIP-based metrics estimate motion and appearance; a judge measures them against ground truth
where the world is known (the shapes world renders every clip from a caption, and its judge reads
the caption's attributes back from pixels). motionlora ships no judge itself: a package offers one
through the `motionlora.judges` entry-point group, as a callable
`(prompts, references) -> Judge | None` that returns None when it cannot read every prompt.
Evaluation then adds the judge's readings (`JUDGE_METRICS`) to each clip's row.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, Sequence

import numpy as np

JUDGE_GROUP = "motionlora.judges"
# The appearance attributes a judge reads; a leak is the references' value where the prompt asked for another.
JUDGE_LEAKS = ("color", "shape", "background")
# Per clip: 1/0, or None where a leak is not defined (the prompt asked for the references' own value).
JUDGE_METRICS = ("judge_motion_correct", "judge_attributes_correct", *(f"judge_leak_{a}" for a in JUDGE_LEAKS))
JUDGE_MODES = ("auto", "on", "off")


class Judge(Protocol):
    """One evaluation's judge: built for its prompts and reference clips."""

    reference_look: dict[str, str | None]

    def score(self, frames: np.ndarray, prompt_index: int, prefix: str = "") -> dict[str, float | None]:
        """The JUDGE_METRICS of one clip generated for prompt `prompt_index`, names prefixed."""


def find_judge(prompts: Sequence[str], references: Sequence[np.ndarray], mode: str) -> Judge | None:
    """The first installed judge that reads every prompt. `mode`: "auto" (None when no judge
    does), "on" (an error naming the installed judges when none does) or "off" (None)."""
    if mode not in JUDGE_MODES:
        raise ValueError(f"evaluate.judge must be one of {list(JUDGE_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    installed = sorted(entry_points(group=JUDGE_GROUP), key=lambda entry: entry.name)
    for entry in installed:
        judge = entry.load()(prompts, references)
        if judge is not None:
            return judge
    if mode == "on":
        names = [entry.name for entry in installed] or "none installed"
        raise ValueError(f"evaluate.judge=on but no judge ({names}) reads every prompt: {list(prompts)}")
    return None
