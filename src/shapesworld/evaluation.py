"""The shapes world's judge for `motionlora evaluate` (entry point `motionlora.judges: shapes`).

Every shapes-world clip is rendered from a caption, so a clip generated for a caption can be checked
against it: the judge (`judge.judge_clip`) reads the motion, shape, colour and background back from
the pixels. A leak is the reference clips' own value where the prompt asked for another.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from motionlora.data.frames import resize_frames
from motionlora.evaluate.judges import JUDGE_LEAKS
from shapesworld.captions import parse_caption
from shapesworld.judge import NONE, judge_clip
from shapesworld.render import ClipSpec


class ShapesJudge:
    """The judge of one evaluation: what each prompt asks for, and the appearance of the reference
    clips (the judge's majority reading over them)."""

    def __init__(self, asked: Sequence[ClipSpec], reference_look: dict[str, str | None]) -> None:
        self.asked, self.reference_look = list(asked), reference_look

    @staticmethod
    def read_look(references: Sequence[np.ndarray]) -> dict[str, str | None]:
        readings = []
        for clip in references:
            side = max(clip.shape[1:3])
            try:
                readings.append(judge_clip(resize_frames(clip, side, side, crop="resize")))
            except ValueError:
                continue
        look: dict[str, str | None] = {}
        for attribute in JUDGE_LEAKS:
            values = [getattr(r, attribute) for r in readings if getattr(r, attribute) != NONE]
            look[attribute] = Counter(values).most_common(1)[0][0] if values else None
        return look

    def score(self, frames: np.ndarray, prompt_index: int, prefix: str = "") -> dict[str, float | None]:
        spec, judged = self.asked[prompt_index], judge_clip(frames)
        row: dict[str, float | None] = {
            "judge_motion_correct": float(judged.motion == spec.motion),
            "judge_attributes_correct": float(all(getattr(judged, a) == getattr(spec, a) for a in JUDGE_LEAKS)),
        }
        for attribute in JUDGE_LEAKS:
            theirs = self.reference_look.get(attribute)
            asked_other = theirs is not None and getattr(spec, attribute) != theirs
            row[f"judge_leak_{attribute}"] = float(getattr(judged, attribute) == theirs) if asked_other else None
        return {prefix + k: v for k, v in row.items()}


def shapes_judge(prompts: Sequence[str], references: Sequence[np.ndarray]) -> ShapesJudge | None:
    """The judge for these prompts, or None when one of them is not a shapes-world caption."""
    asked = [parse_caption(p) for p in prompts]
    if any(spec is None for spec in asked):
        return None
    return ShapesJudge(asked, ShapesJudge.read_look(references))
