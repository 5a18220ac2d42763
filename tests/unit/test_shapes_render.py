"""Shapes-world renderer: determinism, geometry, learnable motions, captions, validation, CLI."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from motionlora.data.decode import decode_clip
from shapesworld import commands
from shapesworld.render import (
    BACKGROUNDS,
    BASE_MOTIONS,
    COLORS,
    HELD_OUT_MOTIONS,
    MOTIONS,
    SHAPES,
    ClipSpec,
    background_image,
    caption,
    centre_bounds,
    render_clip,
    shape_coverage,
    trajectory,
)


def spec(motion: str = "zigzag", shape: str = "triangle", frames: int = 8, size: int = 32, **kw) -> ClipSpec:
    fields = {"color": "green", "background": "stripes", **kw}
    return ClipSpec(shape, fields["color"], fields["background"], motion, frames=frames, size=size)


@pytest.mark.parametrize("motion", MOTIONS)
def test_same_seed_same_clip_other_seed_other_clip(motion: str) -> None:
    clip = render_clip(spec(motion), seed=7)
    assert np.array_equal(clip, render_clip(spec(motion), seed=7))
    assert not np.array_equal(clip, render_clip(spec(motion), seed=8))


@pytest.mark.parametrize(("frames", "size"), [(8, 32), (16, 32), (12, 48), (4, 16)])
def test_clip_and_trajectory_shapes(frames: int, size: int) -> None:
    clip = render_clip(spec("circle", frames=frames, size=size), seed=1)
    assert clip.shape == (frames, size, size, 3) and clip.dtype == np.uint8
    path = trajectory(spec("circle", frames=frames, size=size), seed=1)
    assert path.shape == (frames, 2) and path.dtype == np.float64


@pytest.mark.slow
@pytest.mark.parametrize("size", [16, 32, 64])
def test_object_stays_fully_in_frame_for_every_motion_shape_and_seed(size: int) -> None:
    """Centres stay within bounds, and the outermost pixel ring is pure background at every frame:
    any part of an object beyond the frame would have to cross it."""
    background = np.rint(background_image("gray", size)).astype(np.uint8)
    lo, hi = centre_bounds(size)
    for motion, shape, seed in itertools.product(MOTIONS, SHAPES, range(40)):
        clip_spec = spec(motion, shape, frames=8, size=size, color="red", background="gray")
        path = trajectory(clip_spec, seed)
        assert path.min() >= lo - 1e-9 and path.max() <= hi + 1e-9, (motion, seed)
        clip = render_clip(clip_spec, seed)
        ring = np.ones((size, size), bool)
        ring[1:-1, 1:-1] = False
        assert np.array_equal(clip[:, ring], np.broadcast_to(background[ring], clip[:, ring].shape)), (motion, shape, seed)


@pytest.mark.parametrize("shape", SHAPES)
def test_trajectory_is_the_rendered_objects_centre(shape: str) -> None:
    for x, y in trajectory(spec("spiral", shape), seed=3):
        coverage = shape_coverage(shape, (x, y), 32)
        rows, cols = np.indices(coverage.shape)
        centre = np.array([(cols * coverage).sum(), (rows * coverage).sum()]) / coverage.sum()
        assert np.allclose(centre, (x, y), atol=0.1)


def test_objects_are_large_enough_to_read_their_shape() -> None:
    areas = {shape: shape_coverage(shape, (15.5, 15.5), 32).sum() for shape in SHAPES}
    assert min(areas.values()) >= 55  # pixels at 32x32: at least a ~9 px wide object
    assert np.isclose(areas["circle"], np.pi * (0.18 * 32) ** 2, rtol=0.02)


def test_base_motions_travel_straight_and_far() -> None:
    directions = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
    for motion, direction in directions.items():
        for seed in range(20):
            steps = np.diff(trajectory(spec(motion), seed), axis=0)
            along = steps @ np.array(direction, float)
            assert np.all(along > 1.8), (motion, seed)  # px per frame at 8 frames of 32x32
            assert np.allclose(steps @ np.array(direction[::-1], float), 0.0)
    for seed in range(20):
        assert np.ptp(trajectory(spec("still"), seed), axis=0).max() == 0.0


def test_zigzag_travels_right_with_alternating_vertical_steps() -> None:
    for seed in range(20):
        path = trajectory(spec("zigzag"), seed)
        assert path[-1, 0] - path[0, 0] > 0.35 * 32
        dy = np.diff(path[:, 1])
        assert np.all(np.abs(dy) > 5.0) and np.all(dy[1:] * dy[:-1] < 0)


def test_circle_is_a_closed_loop_and_spiral_grows() -> None:
    for seed in range(20):
        loop = trajectory(spec("circle"), seed)
        closing = np.linalg.norm(loop[0] - loop[-1])
        steps = np.linalg.norm(np.diff(loop, axis=0), axis=1)
        assert np.allclose(steps, closing) and steps.min() > 4.0
        # At a constant angular speed, steps lengthen exactly when the radius grows.
        spiral_steps = np.linalg.norm(np.diff(trajectory(spec("spiral", frames=16), seed), axis=0), axis=1)
        assert np.all(np.diff(spiral_steps) > 0) and spiral_steps[-1] > 2.5 * spiral_steps[0]


def test_bounce_drifts_right_and_hops_twice() -> None:
    for seed in range(20):
        path = trajectory(spec("bounce", frames=16), seed)
        assert np.all(np.diff(path[:, 0]) > 0)
        y = path[:, 1]
        hop_tops = [i for i in range(1, len(y) - 1) if y[i] < y[i - 1] and y[i] <= y[i + 1]]
        assert len(hop_tops) == 2
        assert all(y.max() - y[i] > 0.3 * 32 for i in hop_tops)


def test_held_out_motions_are_disjoint_from_base_motions() -> None:
    assert set(BASE_MOTIONS).isdisjoint(HELD_OUT_MOTIONS)
    assert MOTIONS == BASE_MOTIONS + HELD_OUT_MOTIONS


def test_object_colours_stand_out_from_each_other_and_every_background() -> None:
    colours = np.array(list(COLORS.values()), float)
    pairwise = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    assert pairwise[~np.eye(len(colours), dtype=bool)].min() >= 250
    for background in BACKGROUNDS:
        pixels = background_image(background, 32).reshape(-1, 3)
        for name, colour in COLORS.items():
            distances = np.linalg.norm(pixels - np.array(colour), axis=1)
            assert distances.min() == 0 or distances.min() >= 140, (name, background)
            if distances.min() == 0:
                with pytest.raises(ValueError, match="invisible"):
                    spec(color=name, background=background)


@pytest.mark.parametrize(
    ("clip_spec", "expected"),
    [
        (ClipSpec("triangle", "green", "stripes", "zigzag"), "a green triangle moving in a zigzag on stripes"),
        (ClipSpec("circle", "red", "black", "left"), "a red circle moving left on a black background"),
        (ClipSpec("square", "blue", "checker", "still"), "a blue square standing still on checker"),
        (ClipSpec("circle", "yellow", "gradient", "bounce"), "a yellow circle bouncing on a gradient"),
        (ClipSpec("square", "cyan", "gray", "spiral"), "a cyan square moving in a spiral on a gray background"),
    ],
)
def test_caption(clip_spec: ClipSpec, expected: str) -> None:
    assert caption(clip_spec) == expected


@pytest.mark.parametrize(
    ("fields", "bad_field", "a_valid_value"),
    [
        ({"shape": "hexagon"}, "shape", "triangle"),
        ({"color": "purple"}, "color", "green"),
        ({"background": "sky"}, "background", "checker"),
        ({"motion": "teleport"}, "motion", "zigzag"),
        ({"frames": 2}, "frames", ">= 4"),
        ({"size": 8}, "size", ">= 16"),
        ({"frames": 8.0}, "frames", ">= 4"),
        ({"color": "white", "background": "white"}, "color", "invisible"),
    ],
)
def test_invalid_spec_names_the_field_and_valid_values(fields: dict, bad_field: str, a_valid_value: str) -> None:
    base = {"shape": "circle", "color": "red", "background": "black", "motion": "left", **fields}
    with pytest.raises(ValueError) as error:
        ClipSpec(**base)
    assert bad_field in str(error.value) and a_valid_value in str(error.value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionlora")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_render_command_writes_playable_mp4s_and_captions(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    argv = "shapes render --motion zigzag --shape triangle --color green --background stripes"
    argv += f" --count 3 --frames 12 --size 32 --seed 5 --out {out}"
    args = _parser().parse_args(argv.split())
    assert args.func(args) == 0

    records = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert records == [
        {"file": f"clip_{i:03d}.mp4", "caption": "a green triangle moving in a zigzag on stripes"} for i in range(3)
    ]
    clip_spec = ClipSpec("triangle", "green", "stripes", "zigzag", frames=12)
    for i, record in enumerate(records):
        video = decode_clip(out / record["file"])
        assert video.frames.shape == (12, 32, 32, 3)
        # Lossy H.264 at crf 10: close to the render with the matching seed, not bit-exact.
        error = np.abs(video.frames.astype(int) - render_clip(clip_spec, seed=5 + i)).mean()
        assert error < 4.0


def test_render_command_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(f"shapes render --motion wobble --shape circle --color red --background black --out {tmp_path}".split())
    args = _parser().parse_args(f"shapes render --motion left --shape circle --color white --background white --out {tmp_path}".split())
    with pytest.raises(ValueError, match="invisible"):
        args.func(args)
