"""The shapes world: procedurally rendered clips of a coloured shape moving over a background
(`render`), and a judge that reads those attributes back from pixels (`judge`)."""

from shapesworld.judge import Judgement, judge_accuracy, judge_clip, trajectory_error
from shapesworld.render import (
    BACKGROUNDS,
    BASE_MOTIONS,
    COLORS,
    HELD_OUT_MOTIONS,
    MOTIONS,
    SHAPES,
    ClipSpec,
    caption,
    render_clip,
    trajectory,
)

__all__ = [
    "BACKGROUNDS",
    "BASE_MOTIONS",
    "COLORS",
    "HELD_OUT_MOTIONS",
    "MOTIONS",
    "SHAPES",
    "ClipSpec",
    "Judgement",
    "caption",
    "judge_accuracy",
    "judge_clip",
    "render_clip",
    "trajectory",
    "trajectory_error",
]
