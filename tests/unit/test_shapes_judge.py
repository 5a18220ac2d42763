"""Shapes-world judge: per-attribute accuracy on clean and degraded renders, trajectories, CLI."""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlora.data.video import write_video
from shapesworld import commands
from shapesworld.judge import ATTRIBUTES, NONE, TEMPLATE_SEEDS, judge_accuracy, judge_clip, trajectory_error
from shapesworld.render import BACKGROUNDS, COLORS, MOTIONS, SHAPES, ClipSpec, render_clip, trajectory

CLIPS_PER_SHAPE_AND_MOTION = 10  # 3 shapes × 9 motions × 10 = 270 clips
FIRST_SEED = 10_000  # clear of the seeds the judge's motion templates use


def _specs(frames: int) -> list[tuple[ClipSpec, int]]:
    """Every shape × motion pair, each with colours and backgrounds drawn so that all of them
    occur; white-on-white (invalid) is redrawn."""
    rng = np.random.default_rng(frames)
    specs = []
    pairs = itertools.product(SHAPES, MOTIONS, range(CLIPS_PER_SHAPE_AND_MOTION))
    for index, (shape, motion, _) in enumerate(pairs):
        while True:
            color, background = rng.choice(list(COLORS)), rng.choice(BACKGROUNDS)
            if not (color == "white" and background == "white"):
                break
        specs.append((ClipSpec(shape, str(color), str(background), motion, frames=frames), FIRST_SEED + index))
    return specs


def _degrade(clip: np.ndarray, rng: np.random.Generator, noise: float, blur: float) -> np.ndarray:
    """Gaussian blur (sigma in px) then Gaussian noise (sigma in gray levels), as uint8."""
    frames = clip.astype(np.float64)
    if blur:
        frames = np.stack([cv2.GaussianBlur(frame, (0, 0), blur) for frame in frames])
    return np.clip(np.rint(frames + rng.normal(0.0, noise, frames.shape)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module", params=[8, 16], ids=["8-frames", "16-frames"])
def rendered(request: pytest.FixtureRequest) -> list[tuple[ClipSpec, int, np.ndarray]]:
    return [(spec, seed, render_clip(spec, seed)) for spec, seed in _specs(request.param)]


@pytest.mark.slow
def test_the_sample_covers_every_attribute_value(rendered: list) -> None:
    specs = [spec for spec, _, _ in rendered]
    assert len(specs) >= 200
    for name, values in {"color": COLORS, "shape": SHAPES, "background": BACKGROUNDS, "motion": MOTIONS}.items():
        assert {getattr(spec, name) for spec in specs} == set(values), name


@pytest.mark.slow
def test_judge_reads_clean_clips(rendered: list) -> None:
    pairs = Counter()
    accuracy = judge_accuracy(((spec, clip) for spec, _, clip in rendered), motion_confusion=pairs)
    assert accuracy["count"] == len(rendered)
    assert all(accuracy[name] >= 0.98 for name in ATTRIBUTES), accuracy  # measured: 1.0 each
    assert sum(pairs.values()) == len(rendered)
    assert sum(count for (asked, read), count in pairs.items() if asked == read) / len(rendered) == accuracy["motion"]


@pytest.mark.slow
@pytest.mark.parametrize(("noise", "blur"), [(10.0, 0.7), (20.0, 0.0)])  # noise alone at 10 is milder than both
def test_judge_survives_mild_noise_and_blur(rendered: list, noise: float, blur: float) -> None:
    rng = np.random.default_rng(0)
    accuracy = judge_accuracy((spec, _degrade(clip, rng, noise, blur)) for spec, _, clip in rendered)
    assert all(accuracy[name] >= 0.97 for name in ATTRIBUTES), accuracy  # measured: 1.0 each


@pytest.mark.slow
def test_estimated_trajectories_are_sub_pixel(rendered: list) -> None:
    rng = np.random.default_rng(1)
    for degrade in (False, True):
        errors = []
        for spec, seed, clip in rendered[::3]:
            frames = _degrade(clip, rng, 10.0, 0.7) if degrade else clip
            errors.append(trajectory_error(judge_clip(frames).trajectory, trajectory(spec, seed)))
        assert np.mean(errors) < 0.25 and np.max(errors) < 1.0, (degrade, np.mean(errors), np.max(errors))


def test_trajectory_error_ignores_position_and_measures_shape_of_path() -> None:
    reference = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [6.0, 0.0]])
    assert trajectory_error(reference + [5.0, -3.0], reference) == pytest.approx(0.0)
    bent = reference + [[0, 1], [0, -1], [0, 1], [0, -1]]  # a zigzag around the same line
    assert trajectory_error(bent, reference) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="frames, 2"):
        trajectory_error(reference[:3], reference)


def test_motion_templates_do_not_include_the_test_seeds() -> None:
    assert TEMPLATE_SEEDS <= FIRST_SEED


def test_no_object_reads_as_none() -> None:
    empty = np.full((8, 32, 32, 3), 128, np.uint8)
    judgement = judge_clip(empty)
    assert (judgement.color, judgement.shape, judgement.motion) == (NONE, NONE, NONE)
    assert judgement.background == "gray" and judgement.trajectory.shape == (8, 2)


def test_judge_rejects_non_clips() -> None:
    with pytest.raises(ValueError, match="frames must have shape"):
        judge_clip(np.zeros((32, 32, 3), np.uint8))


def test_judge_command_reads_mp4s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ClipSpec("triangle", "green", "stripes", "zigzag"),
        ClipSpec("circle", "white", "checker", "circle"),
        ClipSpec("square", "magenta", "gradient", "up"),
    ]
    paths = [write_video(tmp_path / f"{i}.mp4", render_clip(spec, seed=i)) for i, spec in enumerate(cases)]
    parser = argparse.ArgumentParser(prog="motionlora")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["shapes", "judge", "--json", *map(str, paths)])
    assert args.func(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == list(map(str, paths))
    for spec, line in zip(cases, lines):
        assert {name: line[name] for name in ATTRIBUTES} == {name: getattr(spec, name) for name in ATTRIBUTES}
