"""Procedural clips of one coloured shape moving over a background, with exact ground truth.

Geometry is defined as fractions of the frame size so any square size renders the same world;
the reference is 32×32 × 8 frames. Pixel coordinates: pixel (row i, column j) has its centre at
(x=j, y=i), so the centroid of an object's pixel mask estimates the centre `trajectory` returns.

Learnability constraints (the pretraining probe; see models/shapes/TRAINING.md, "Why this recipe"):
* the object is large (circle radius 0.18·size ≈ 5.8 px at 32) so its shape is readable;
* every motion spans the whole clip and uses nearly all the room the frame allows, so the
  displacement per frame is as large as geometry permits: ≈ 2 px/frame for the linear base
  motions at 8 frames, ≈ 5–7 px/frame for zigzag steps and the circle;
* object colours are saturated (or white) and backgrounds achromatic, so they never blend;
* backgrounds are static and seed-independent; the seed only varies start position, phase,
  amplitude and speed, always within bounds that keep the whole object ≥ 1 px inside the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "white": (255, 255, 255),
}
PLAIN_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
}
TEXTURED_BACKGROUNDS: tuple[str, ...] = ("stripes", "checker", "gradient")
BACKGROUNDS: tuple[str, ...] = (*PLAIN_BACKGROUNDS, *TEXTURED_BACKGROUNDS)
BASE_MOTIONS: tuple[str, ...] = ("left", "right", "up", "down", "still")
HELD_OUT_MOTIONS: tuple[str, ...] = ("zigzag", "circle", "bounce", "spiral")
MOTIONS: tuple[str, ...] = BASE_MOTIONS + HELD_OUT_MOTIONS

# Texture tones stay in mid-gray so that even a white object differs by > 140 per pixel.
TEXTURE_DARK, TEXTURE_LIGHT = 60.0, 150.0
GRADIENT_RANGE = (40.0, 170.0)

# Shape sizes as fractions of the frame size.
CIRCLE_RADIUS = 0.18
SQUARE_HALF_SIDE = 0.16
TRIANGLE_CIRCUMRADIUS = 0.21  # apex up; its centre is the centroid
OBJECT_EXTENT = max(CIRCLE_RADIUS, SQUARE_HALF_SIDE, TRIANGLE_CIRCUMRADIUS)
MARGIN_PX = 1.0  # background-only ring kept around the object at every frame
SUPERSAMPLE = 8  # sub-samples per pixel side for anti-aliased edges

MIN_FRAMES, MIN_SIZE = 4, 16

MOTION_PHRASES: dict[str, str] = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "still": "standing still",
    "zigzag": "moving in a zigzag",
    "circle": "moving in a circle",
    "bounce": "bouncing",
    "spiral": "moving in a spiral",
}
BACKGROUND_PHRASES: dict[str, str] = {
    **{name: f"on a {name} background" for name in PLAIN_BACKGROUNDS},
    "stripes": "on stripes",
    "checker": "on checker",
    "gradient": "on a gradient",
}


@dataclass(frozen=True)
class ClipSpec:
    """What a clip shows. Validated on construction: a bad field raises ValueError."""

    shape: str
    color: str
    background: str
    motion: str
    frames: int = 8
    size: int = 32

    def __post_init__(self) -> None:
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("color", self.color, tuple(COLORS))
        _check_choice("background", self.background, BACKGROUNDS)
        _check_choice("motion", self.motion, MOTIONS)
        _check_at_least("frames", self.frames, MIN_FRAMES)
        _check_at_least("size", self.size, MIN_SIZE)
        if COLORS[self.color] == PLAIN_BACKGROUNDS.get(self.background):
            raise ValueError(
                f"color {self.color!r} is the colour of background {self.background!r}: the object "
                f"would be invisible; pick another color or background"
            )


def _check_choice(field: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"invalid {field} {value!r}; valid values: {', '.join(valid)}")


def _check_at_least(field: str, value: object, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"invalid {field} {value!r}; valid values: integers >= {minimum}")


def caption(spec: ClipSpec) -> str:
    """The prompt text for a clip, e.g. "a green triangle moving in a zigzag on stripes"."""
    return f"a {spec.color} {spec.shape} {MOTION_PHRASES[spec.motion]} {BACKGROUND_PHRASES[spec.background]}"


def centre_bounds(size: int) -> tuple[float, float]:
    """The closed interval each centre coordinate may take so that any shape stays in frame."""
    reach = OBJECT_EXTENT * size + MARGIN_PX
    return reach - 0.5, size - 0.5 - reach


def trajectory(spec: ClipSpec, seed: int = 0) -> np.ndarray:
    """(frames, 2) float centre (x, y) per frame; depends only on motion, frames, size and seed."""
    rng = np.random.default_rng([seed, MOTIONS.index(spec.motion)])
    lo, hi = centre_bounds(spec.size)
    t = np.linspace(0.0, 1.0, spec.frames)
    x, y = _MOTION_FUNCS[spec.motion](rng, t, lo, hi, spec.size)
    return np.stack([x, y], axis=1).astype(np.float64)


def _linear(
    rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int, axis: int, sign: float
) -> tuple[np.ndarray, np.ndarray]:
    """Travel 80–100 % of the room along one axis; the other coordinate near the middle."""
    room = hi - lo
    travel = room * rng.uniform(0.8, 1.0)
    start = lo + rng.uniform(0.0, room - travel)
    along = start + travel * (t if sign > 0 else 1.0 - t)
    across = np.full_like(t, (lo + hi) / 2 + rng.uniform(-0.1, 0.1) * size)
    return (along, across) if axis == 0 else (across, along)


def _still(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    mid = (lo + hi) / 2
    x, y = mid + rng.uniform(-0.12, 0.12, size=2) * size
    return np.full_like(t, x), np.full_like(t, y)


def _zigzag(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rightwards travel while y alternates up/down every frame (steps of ≈ 0.2·size)."""
    room = hi - lo
    travel = room * rng.uniform(0.75, 0.95)
    x = lo + rng.uniform(0.0, room - travel) + travel * t
    amplitude = rng.uniform(0.09, 0.115) * size
    first = rng.choice([-1.0, 1.0])
    alternating = first * np.where(np.arange(t.size) % 2 == 0, 1.0, -1.0)
    y = (lo + hi) / 2 + rng.uniform(-0.05, 0.05) * size + amplitude * alternating
    return x, y


def _loop(
    rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int, radius: np.ndarray, sweep: float
) -> tuple[np.ndarray, np.ndarray]:
    """Counter-clockwise on screen (y grows downwards) around a centre that keeps the loop in frame;
    at small frame sizes the radius shrinks to fit."""
    radius = radius * min(1.0, (hi - lo) / 2 / float(np.max(radius)))
    slack = (hi - lo) / 2 - float(np.max(radius))
    cx, cy = (lo + hi) / 2 + rng.uniform(-slack, slack, size=2)
    angle = rng.uniform(0.0, 2 * np.pi) + sweep * t
    return cx + radius * np.cos(angle), cy - radius * np.sin(angle)


def _circle(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One full turn: the clip loops seamlessly (the frame after the last would be the first)."""
    radius = np.full_like(t, rng.uniform(0.2, 0.235) * size)
    return _loop(rng, t, lo, hi, size, radius, 2 * np.pi * (t.size - 1) / t.size)


def _spiral(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """1.25 turns outwards, radius growing linearly from ≈ 0.05·size to ≈ 0.23·size."""
    radius = rng.uniform(0.03, 0.06) * size + rng.uniform(0.17, 0.19) * size * t
    return _loop(rng, t, lo, hi, size, radius, 2.5 * np.pi)


def _bounce(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two parabolic hops off a floor near the bottom while drifting right."""
    room = hi - lo
    travel = room * rng.uniform(0.55, 0.75)
    x = lo + rng.uniform(0.0, room - travel) + travel * t
    floor = hi - rng.uniform(0.0, 0.03) * size
    height = min(rng.uniform(0.36, 0.42) * size, floor - lo)
    phase = (2.0 * t + rng.uniform(0.0, 0.1)) % 1.0
    return x, floor - height * 4.0 * phase * (1.0 - phase)


_MOTION_FUNCS = {
    "left": lambda rng, t, lo, hi, size: _linear(rng, t, lo, hi, size, 0, -1.0),
    "right": lambda rng, t, lo, hi, size: _linear(rng, t, lo, hi, size, 0, 1.0),
    "up": lambda rng, t, lo, hi, size: _linear(rng, t, lo, hi, size, 1, -1.0),
    "down": lambda rng, t, lo, hi, size: _linear(rng, t, lo, hi, size, 1, 1.0),
    "still": _still,
    "zigzag": _zigzag,
    "circle": _circle,
    "bounce": _bounce,
    "spiral": _spiral,
}


def background_image(name: str, size: int) -> np.ndarray:
    """(size, size, 3) float image of a background; textures are vertical stripes, a checkerboard
    with the same period (size/4), and a left-to-right gray ramp."""
    _check_choice("background", name, BACKGROUNDS)
    if name in PLAIN_BACKGROUNDS:
        return np.broadcast_to(np.array(PLAIN_BACKGROUNDS[name], np.float64), (size, size, 3)).copy()
    coords = np.arange(size)
    cell = max(size // 8, 1)
    if name == "gradient":
        row = np.linspace(*GRADIENT_RANGE, size)
        gray = np.broadcast_to(row, (size, size))
    else:
        col_on = (coords // cell) % 2 == 1
        on = col_on[None, :] ^ ((coords // cell) % 2 == 1)[:, None] if name == "checker" else np.broadcast_to(col_on, (size, size))
        gray = np.where(on, TEXTURE_LIGHT, TEXTURE_DARK)
    return np.repeat(gray[..., None], 3, axis=2).astype(np.float64)


def shape_coverage(shape: str, centre: tuple[float, float], size: int) -> np.ndarray:
    """(size, size) fraction of each pixel the shape covers, by supersampling the pixels of the
    shape's bounding box (the rest of the frame is 0)."""
    _check_choice("shape", shape, SHAPES)
    coverage = np.zeros((size, size))
    reach = OBJECT_EXTENT * size + 1
    cols = _pixel_span(centre[0] - reach, centre[0] + reach, size)
    rows = _pixel_span(centre[1] - reach, centre[1] + reach, size)
    if cols.size == 0 or rows.size == 0:
        return coverage
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    dx = (cols[:, None] + offsets).ravel()[None, :] - centre[0]
    dy = (rows[:, None] + offsets).ravel()[:, None] - centre[1]
    inside = _inside(shape, dx, dy, size)
    block = inside.reshape(rows.size, SUPERSAMPLE, cols.size, SUPERSAMPLE).mean(axis=(1, 3))
    coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = block
    return coverage


def _pixel_span(low: float, high: float, size: int) -> np.ndarray:
    return np.arange(max(int(np.floor(low)), 0), min(int(np.ceil(high)), size - 1) + 1)


def _inside(shape: str, dx: np.ndarray, dy: np.ndarray, size: int) -> np.ndarray:
    if shape == "circle":
        return dx**2 + dy**2 <= (CIRCLE_RADIUS * size) ** 2
    if shape == "square":
        half = SQUARE_HALF_SIDE * size
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    # Equilateral triangle, apex up: inside all three edges, each at the inradius (R/2) from the centroid.
    inradius = TRIANGLE_CIRCUMRADIUS * size / 2
    slant = np.sqrt(3) / 2 * np.abs(dx) - dy / 2
    return (dy <= inradius) & (slant <= inradius)


def render_clip(spec: ClipSpec, seed: int = 0) -> np.ndarray:
    """(frames, size, size, 3) uint8 clip; deterministic from (spec, seed)."""
    background = background_image(spec.background, spec.size)
    colour = np.array(COLORS[spec.color], np.float64)
    frames = np.empty((spec.frames, spec.size, spec.size, 3), np.uint8)
    for i, (x, y) in enumerate(trajectory(spec, seed)):
        alpha = shape_coverage(spec.shape, (x, y), spec.size)[..., None]
        frames[i] = np.rint(background * (1.0 - alpha) + colour * alpha).astype(np.uint8)
    return frames
