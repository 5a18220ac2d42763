"""Read a shapes-world clip's colour, shape, background and motion straight from its pixels.

No learning: the background is the static part of the clip, the object is what differs from it,
and each attribute is the nearest named value of a simple measurement. Built to tolerate the
flaws of generated clips (noise, blur, codec chroma loss, shifted tones), not only clean renders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import cv2
import numpy as np

from shapesworld.render import (
    COLORS,
    MIN_FRAMES,
    MOTIONS,
    PLAIN_BACKGROUNDS,
    SHAPES,
    TEXTURED_BACKGROUNDS,
    ClipSpec,
    background_image,
    trajectory,
)

NONE = "none"  # attribute value when no object could be found
ATTRIBUTES = ("color", "shape", "background", "motion")

TEXTURE_MIN_CORRELATION = 0.5  # Pearson r of the static image with a texture to call it textured
TEXTURE_MIN_STD = 6.0  # gray levels; below this the background is plain whatever its pattern
OBJECT_MIN_CONTRAST = 40.0  # RGB distance; a weaker object is treated as absent
# Shape measures (see _skew, _peak_ratio), cut halfway between the shapes' exact values.
TRIANGLE_MIN_SKEW = 0.0085  # triangle ≈ 0.017, circle and square 0
SQUARE_MAX_RATIO = 1.13  # square 1, circle 4/π ≈ 1.27
TEMPLATE_SEEDS = 64  # reference trajectories per motion for nearest-template classification


@dataclass(frozen=True)
class Judgement:
    """What the judge read from a clip; attributes are "none" when no object was found."""

    color: str
    shape: str
    background: str
    motion: str
    trajectory: np.ndarray  # (frames, 2) estimated centres (x, y) in pixels


def judge_clip(frames: np.ndarray) -> Judgement:
    """Judge a (frames, H, W, 3) uint8 clip; H and W may differ but motions assume a square frame."""
    clip = _check_clip(frames)
    static = np.median(clip, axis=0)
    background = classify_background(static)
    backdrop = background_model(background, static)
    distance = np.linalg.norm(clip - backdrop, axis=-1)
    contrast = _object_contrast(distance)
    if contrast < OBJECT_MIN_CONTRAST:
        centre = np.array([(clip.shape[2] - 1) / 2, (clip.shape[1] - 1) / 2])
        return Judgement(NONE, NONE, background, NONE, np.tile(centre, (clip.shape[0], 1)))
    masks = np.stack([_largest_component(d > contrast / 2) for d in distance])
    colour = _object_colour(clip, masks, distance)
    alphas = _coverage(clip, backdrop, colour, masks)
    centres = _fill_missing(np.array([_centroid(a) for a in alphas]))
    return Judgement(
        color=_nearest(colour, COLORS),
        shape=classify_shape(alphas),
        background=background,
        motion=classify_motion(centres, size=max(clip.shape[1:3])),
        trajectory=centres,
    )


def _check_clip(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < MIN_FRAMES:
        raise ValueError(f"frames must have shape (F >= {MIN_FRAMES}, H, W, 3), got {frames.shape}")
    return frames.astype(np.float64)


def classify_background(static: np.ndarray) -> str:
    """Textured when the static image's luminance correlates with a texture template, else the
    nearest plain colour of the median pixel. Correlation ignores tone and contrast, so blurred or
    tone-shifted textures still match. The static image is the per-pixel median over frames, which
    still holds the object where it moves less than its own width in half the clip."""
    gray = static.mean(axis=-1)
    if gray.std() >= TEXTURE_MIN_STD:
        scores = {name: _robust_correlation(gray, _texture_gray(name, gray.shape)) for name in TEXTURED_BACKGROUNDS}
        best = max(scores, key=scores.get)
        if scores[best] >= TEXTURE_MIN_CORRELATION:
            return best
    median = np.median(static.reshape(-1, 3), axis=0)
    return _nearest(median, PLAIN_BACKGROUNDS)


def _texture_gray(name: str, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    image = background_image(name, max(height, width))[:height, :width]
    return image.mean(axis=-1)


def _robust_correlation(image: np.ndarray, template: np.ndarray) -> float:
    """Pearson r over the 75 % of pixels that a straight-line fit of image on template explains
    best, so that the object's pixels do not count."""
    x, y = template.reshape(-1), image.reshape(-1)
    slope, intercept = np.polyfit(x, y, 1)
    residual = np.abs(y - (slope * x + intercept))
    keep = residual <= np.quantile(residual, 0.75)
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def background_model(name: str, static: np.ndarray) -> np.ndarray:
    """The background the clip's own pixels suggest, as an (H, W, 3) float image: the median
    colour for plain ones; the texture template fitted (gain and offset per channel, twice,
    dropping the worst-fitting quarter of pixels the second time so the object does not pull the
    fit) for textured ones. Using the clip's own tones tolerates generated colour shifts."""
    pixels = static.reshape(-1, 3)
    if name in PLAIN_BACKGROUNDS:
        return np.broadcast_to(np.median(pixels, axis=0), static.shape)
    template = _texture_gray(name, static.shape[:2]).reshape(-1)
    design = np.stack([template, np.ones_like(template)], axis=1)
    keep = np.ones(template.size, bool)
    for _ in range(2):
        coefficients, *_ = np.linalg.lstsq(design[keep], pixels[keep], rcond=None)
        fitted = design @ coefficients
        error = np.linalg.norm(pixels - fitted, axis=1)
        keep = error <= np.quantile(error, 0.75)
    return fitted.reshape(static.shape)


def _object_contrast(distance: np.ndarray) -> float:
    """Typical peak distance from the background per frame, after a 3×3 blur that suppresses
    isolated noisy pixels; half of it is the object threshold (≈ half pixel coverage)."""
    peaks = [cv2.blur(d.astype(np.float32), (3, 3)).max() for d in distance]
    return float(np.median(peaks))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def _object_colour(clip: np.ndarray, masks: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Median RGB of the object's core pixels (the half farthest from the background), so
    anti-aliased edges mixed with the background do not tint it."""
    core = masks & (distance >= np.median(distance[masks]))
    return np.median(clip[core], axis=0)


def _coverage(clip: np.ndarray, backdrop: np.ndarray, colour: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(F, H, W) estimated fraction of each pixel the object covers: the pixel's position between
    background and object colour, kept only next to the object's mask (dilated by a pixel so
    anti-aliased edges count). Soft coverage gives sub-pixel centres and, unlike a thresholded
    mask, does not depend on how far the object's colour is from each background tone."""
    towards = colour - backdrop
    alpha = ((clip - backdrop) * towards).sum(axis=-1) / np.maximum((towards * towards).sum(axis=-1), 1.0)
    kernel = np.ones((3, 3), np.uint8)
    near = np.stack([cv2.dilate(m.astype(np.uint8), kernel).astype(bool) for m in masks])
    return np.where(near, np.clip(alpha, 0.0, 1.0), 0.0)


def _centroid(alpha: np.ndarray) -> np.ndarray:
    total = alpha.sum()
    if total <= 0:
        return np.full(2, np.nan)
    rows, cols = np.indices(alpha.shape)
    return np.array([(cols * alpha).sum() / total, (rows * alpha).sum() / total])


def _fill_missing(centres: np.ndarray) -> np.ndarray:
    """Frames where the object vanished take linearly interpolated centres."""
    missing = np.isnan(centres[:, 0])
    if missing.any():
        index = np.arange(len(centres))
        for axis in range(2):
            centres[missing, axis] = np.interp(index[missing], index[~missing], centres[~missing, axis])
    return centres


def _nearest(value: np.ndarray, named: dict[str, tuple[int, int, int]]) -> str:
    return min(named, key=lambda name: float(np.linalg.norm(value - np.array(named[name]))))


def classify_shape(alphas: np.ndarray) -> str:
    """Lopsided coverage is a triangle (see `_skew`); of the symmetric shapes, a low peak ratio is
    a square (see `_peak_ratio`). Each measure is the median over the frames with an object."""
    visible = [a for a in alphas if a.sum() > 0]
    if np.median([_skew(a) for a in visible]) >= TRIANGLE_MIN_SKEW:
        return "triangle"
    return "square" if np.median([_peak_ratio(a) for a in visible]) < SQUARE_MAX_RATIO else "circle"


def _skew(alpha: np.ndarray) -> float:
    """|third central moment| of the coverage's row (or column) profile / area^1.5, the larger of
    the two: 3^0.75/135 ≈ 0.017 for an equilateral triangle with an edge along that axis, 0 for
    a circle or square. Blurring by a symmetric kernel leaves the third moment unchanged."""
    area = alpha.sum()
    moments = []
    for profile in (alpha.sum(axis=1), alpha.sum(axis=0)):
        position = np.arange(profile.size)
        mean = (position * profile).sum() / area
        moments.append(abs(((position - mean) ** 3 * profile).sum()) / area)
    return float(max(moments) / area**1.5)


def _peak_ratio(alpha: np.ndarray) -> float:
    """Tallest column × widest row / area: 1 for an upright square, 4/π ≈ 1.27 for a circle.
    Column and row sums average many pixels, and blur barely lowers a square's flat profile."""
    return float(alpha.sum(axis=0).max() * alpha.sum(axis=1).max() / alpha.sum())


def classify_motion(centres: np.ndarray, size: int) -> str:
    """The motion of the nearest reference trajectory (mean distance after removing each
    trajectory's mean position), among TEMPLATE_SEEDS renders of every motion at this clip's
    frame count and size. Position is free; direction, speed and shape of the path are not."""
    templates, names = _motion_templates(len(centres), size)
    centred = centres - centres.mean(axis=0)
    distances = np.linalg.norm(templates - centred, axis=-1).mean(axis=1)
    return names[int(np.argmin(distances))]


@lru_cache(maxsize=16)
def _motion_templates(frames: int, size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    paths, names = [], []
    for motion in MOTIONS:
        spec = ClipSpec(SHAPES[0], "red", "black", motion, frames=frames, size=size)
        for seed in range(TEMPLATE_SEEDS):
            path = trajectory(spec, seed)
            paths.append(path - path.mean(axis=0))
            names.append(motion)
    return np.stack(paths), tuple(names)


def trajectory_error(estimated: np.ndarray, reference: np.ndarray) -> float:
    """Mean pixel distance between two (frames, 2) trajectories after removing each one's mean
    position. Aligning means rather than start points is the least-squares translation, so one
    badly localised first frame does not offset every other frame."""
    estimated, reference = np.asarray(estimated, float), np.asarray(reference, float)
    if estimated.shape != reference.shape or estimated.ndim != 2 or estimated.shape[1] != 2:
        raise ValueError(f"trajectories must both be (frames, 2), got {estimated.shape} and {reference.shape}")
    difference = (estimated - estimated.mean(axis=0)) - (reference - reference.mean(axis=0))
    return float(np.linalg.norm(difference, axis=1).mean())


def judge_accuracy(specs_and_frames: Iterable[tuple[ClipSpec, np.ndarray]],
                   motion_confusion: Counter | None = None) -> dict[str, float]:
    """Fraction of clips whose judged color, shape, background and motion match the spec, plus
    "all" (every attribute right) and "count" (clips judged). A `motion_confusion` counter, when
    given, also counts each (asked, read) motion pair: it tells a model that confuses opposite
    directions (left/right) from one that confuses axes or does not move."""
    hits = {name: 0 for name in (*ATTRIBUTES, "all")}
    count = 0
    for spec, frames in specs_and_frames:
        judgement = judge_clip(frames)
        if motion_confusion is not None:
            motion_confusion[(spec.motion, judgement.motion)] += 1
        right = [getattr(judgement, name) == getattr(spec, name) for name in ATTRIBUTES]
        for name, ok in zip(ATTRIBUTES, right):
            hits[name] += ok
        hits["all"] += all(right)
        count += 1
    if count == 0:
        raise ValueError("judge_accuracy needs at least one (spec, frames) pair")
    return {**{name: value / count for name, value in hits.items()}, "count": float(count)}
