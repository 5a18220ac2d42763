"""Evaluation metrics over uint8 clips of shape (F, H, W, 3) (DESIGN.md section 4).

`motion_fidelity` needs no model: it tracks points with OpenCV's pyramidal Lucas-Kanade and
compares the clips' motion only. The CLIP metrics take a `ClipScorer` (see `evaluate.clip`), so
the same code scores with the tiny test CLIP, the shapes-world CLIP or a hub CLIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, pairwise
from typing import TYPE_CHECKING

import cv2
import numpy as np

from motionlora.data.video import check_frames

if TYPE_CHECKING:
    from motionlora.evaluate.clip import ClipScorer

# Shi-Tomasi corners on the first frame; at most this many tracks per clip.
_MAX_POINTS = 256
_CORNER_QUALITY = 0.01
# Lucas-Kanade: a 15 px window over a 4-level pyramid follows motions of tens of pixels per frame.
_LK_PARAMS = {
    "winSize": (15, 15),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
}
# A track whose backward re-tracking misses its start by more than this (pixels) is unreliable.
_MAX_FORWARD_BACKWARD_ERROR = 1.0


# --- motion fidelity ---------------------------------------------------------------------------


def motion_fidelity(reference: np.ndarray, generated: np.ndarray, *, static_fraction: float = 0.01) -> float:
    """Motion-fidelity score of Yatim et al. (CVPR 2024) between two clips, in [-1, 1].

    Points found on each clip's first frame (Shi-Tomasi corners) are tracked through the clip with
    pyramidal Lucas-Kanade; a track is kept only if it is found in every frame, stays inside it and
    passes a forward-backward check at every step. Each kept track becomes a tracklet: its
    frame-to-frame displacements v_1..v_{F-1}. Two tracklets are compared by

        corr(t, t') = sum_k v_k . v'_k / (sqrt(sum_k |v_k|^2) * sqrt(sum_k |v'_k|^2))

    and the score is 0.5 * (mean over reference tracklets of the best corr with a generated one
    + mean over generated tracklets of the best corr with a reference one).

    Only displacements enter the score, so colour, texture and background cannot change it,
    while direction, path and timing (which frame a displacement happens in) all do.

    Choices where the paper leaves room:

    * Displacements are frame-to-frame (as in the authors' code), not positions relative to the
      start: cumulative offsets let one early error or a reordering of frames still correlate.
    * Normalisation is over the whole tracklet (the formula above), not per frame as in the
      authors' code: per-frame unit vectors are undefined when a point pauses and turn
      sub-pixel tracker noise into full-weight votes.
    * Static tracks are dropped: a track whose distance from its start never exceeds
      `static_fraction` of the frame diagonal carries no motion. On a textured background such
      tracks outnumber those on the subject, and as zero vectors they would correlate 0 with
      everything, pulling the score towards 0 by an amount set by background texture -- an
      appearance property the score must not see.
    * A clip with no moving track (a still subject, a blank clip, or every track lost) has
      motion "none", represented by one zero tracklet. A zero tracklet correlates 0 with a
      moving one and 1 with another zero tracklet, so two still clips score 1.0 (their motions
      agree), and a still clip against a moving one scores 0.0. No case yields NaN.

    Tracking runs on luma, so a subject as bright as its background is not tracked (it counts as
    still); nor are points that appear only after the first frame. The clips may differ in
    resolution (the score is scale-free), but must have the same number of frames (>= 2).
    Deterministic, and symmetric: swapping the clips gives exactly the same value.
    """
    reference = check_frames(reference, "reference")
    generated = check_frames(generated, "generated")
    if len(reference) != len(generated):
        raise ValueError(
            f"motion_fidelity needs clips of equal length: reference has {len(reference)} frames, "
            f"generated has {len(generated)}"
        )
    if len(reference) < 2:
        raise ValueError(f"motion_fidelity needs at least 2 frames, got {len(reference)}")
    ref_tracklets = _moving_tracklets(_track_points(reference), _static_threshold(reference, static_fraction))
    gen_tracklets = _moving_tracklets(_track_points(generated), _static_threshold(generated, static_fraction))
    return _tracklet_set_similarity(ref_tracklets, gen_tracklets)


def _static_threshold(frames: np.ndarray, static_fraction: float) -> float:
    height, width = frames.shape[1:3]
    return static_fraction * float(np.hypot(height, width))


def _track_points(frames: np.ndarray) -> np.ndarray:
    """Tracks of first-frame corners that survive the whole clip, shape (N, F, 2) in pixels (x, y)."""
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    height, width = gray[0].shape
    min_distance = max(2, min(height, width) // 32)
    corners = cv2.goodFeaturesToTrack(gray[0], _MAX_POINTS, _CORNER_QUALITY, min_distance)
    if corners is None:
        return np.zeros((0, len(frames), 2), np.float32)
    points = [corners.reshape(-1, 2).astype(np.float32)]
    alive = np.ones(len(points[0]), bool)
    for previous, current in pairwise(gray):
        moved, ok = _track_step(previous, current, points[-1], (width, height))
        alive &= ok
        points.append(moved)
    return np.stack(points, axis=1)[alive]


def _track_step(
    previous: np.ndarray, current: np.ndarray, points: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Points moved from `previous` to `current`, and which of them are trustworthy.

    Forward-backward check (Kalal et al. 2010): tracking back must land where we started.
    """
    forward, found, _ = cv2.calcOpticalFlowPyrLK(previous, current, points.reshape(-1, 1, 2), None, **_LK_PARAMS)
    backward, found_back, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, None, **_LK_PARAMS)
    forward = forward.reshape(-1, 2)
    error = np.linalg.norm(backward.reshape(-1, 2) - points, axis=1)
    inside = (forward >= 0).all(axis=1) & (forward[:, 0] <= size[0] - 1) & (forward[:, 1] <= size[1] - 1)
    ok = (found.ravel() == 1) & (found_back.ravel() == 1) & (error <= _MAX_FORWARD_BACKWARD_ERROR) & inside
    return forward, ok


def _moving_tracklets(tracks: np.ndarray, threshold: float) -> np.ndarray:
    """Flattened frame-to-frame displacements (N, 2(F-1)) of the tracks that move."""
    offsets = np.linalg.norm(tracks - tracks[:, :1], axis=2)
    moving = offsets.max(axis=1, initial=0.0) > threshold
    steps = np.diff(tracks[moving], axis=1)
    return steps.reshape(len(steps), 2 * (tracks.shape[1] - 1)).astype(np.float64)


def _tracklet_set_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean of best-match correlations; see `motion_fidelity` for the no-motion cases."""
    if len(a) == 0 or len(b) == 0:
        return 1.0 if len(a) == len(b) else 0.0
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    # Elementwise products summed along the same axis: corr(a_i, b_j) is bit-identical either way
    # round, so the score is exactly symmetric.
    corr = (a[:, None, :] * b[None, :, :]).sum(axis=2)
    score = 0.5 * (corr.max(axis=1).mean() + corr.max(axis=0).mean())
    return float(np.clip(score, -1.0, 1.0))


# --- concept motion fidelity -------------------------------------------------------------------

# Frames are analysed at most this many pixels on their longer side: enough to place an object to
# a fraction of a pixel, and it averages away per-pixel noise of generated clips.
_ANALYSIS_SIZE = 64
# An object differs from the static background by at least this RGB distance (0..441) at its
# peak; a weaker difference is noise, flicker or codec error, and the clip has no moving object.
_MIN_OBJECT_CONTRAST = 30.0
# ... and its peak must stand this far above the clip's typical (median) difference, so that a
# clip whose every pixel flickers does not elect a noise blob as its object.
_MIN_CONTRAST_OVER_NOISE = 3.0
# Per-frame speed (in frame sizes) below which motion is indistinguishable from localisation
# noise; it regularises the similarity so that two still clips agree (score 1) and a still clip
# against a moving one scores near 0.
_NOISE_SPEED = 0.003


def object_trajectory(frames: np.ndarray) -> np.ndarray:
    """(F, 2) centre (x, y) of the clip's dominant moving object per frame, in units of the frame's
    longer side (so the same motion at another resolution gives the same numbers).

    The background is static (a fixed camera). Two estimates of it compete:
    * the per-pixel temporal median -- right wherever the object covers a pixel in fewer than half
      the frames (fast motions, loops);
    * the first and last frames where they agree (the object is elsewhere at both ends), else
      whichever of the two is closer to the median -- right for a slow object that covers the
      middle of its path in most frames, which the median mistakes for background.
    The object in each frame is the largest connected region that differs from the background,
    after a 3x3 blur that removes isolated noisy pixels (see `_object_centres`). A rigid object keeps its area, so the estimate whose regions vary
    least in area (and are found in most frames) wins. Frames where the object is not found take
    interpolated centres. A clip with no object that stands out (blank, still, or only noise)
    returns the frame centre in every frame: no motion.
    """
    frames = check_frames(frames)
    height, width = frames.shape[1:3]
    scale = min(1.0, _ANALYSIS_SIZE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in frames])
    clip = frames.astype(np.float32)
    side = float(max(clip.shape[1:3]))
    still = np.tile([(clip.shape[2] - 1) / 2 / side, (clip.shape[1] - 1) / 2 / side], (len(clip), 1))
    if len(clip) < 2:
        return still
    best, best_cost = None, np.inf
    for background in _background_candidates(clip):
        blurred = np.stack([cv2.blur(d, (3, 3)) for d in np.linalg.norm(clip - background, axis=-1)])
        contrast = float(np.median(blurred.reshape(len(clip), -1).max(axis=1)))
        if contrast < _MIN_OBJECT_CONTRAST or contrast < _MIN_CONTRAST_OVER_NOISE * float(np.median(blurred)):
            continue
        centres, areas = _object_centres(blurred, contrast / 2)
        found = areas > 0
        if not found.any():
            continue
        cost = float(areas[found].std() / areas[found].mean()) + float(1.0 - found.mean())
        if cost < best_cost:
            best, best_cost = centres, cost
    if best is None:
        return still
    return _interpolate(best) / side


def _background_candidates(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The temporal median, and the clip's ends (see `object_trajectory`)."""
    median = np.median(clip, axis=0)
    first, last = clip[0], clip[-1]
    agree = np.linalg.norm(first - last, axis=-1) <= _MIN_OBJECT_CONTRAST
    first_closer = np.linalg.norm(first - median, axis=-1) <= np.linalg.norm(last - median, axis=-1)
    ends = np.where((agree | first_closer)[..., None], first, last)
    return median, ends


def _object_centres(blurred: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the centroid (x, y) and area of the largest region above `threshold` (NaN centre
    and zero area where there is none). Fragments up to two pixels apart count as one region (an
    object over a textured background differs from it more in some places than in others), and
    each pixel weighs its difference up to twice the threshold, so the centroid follows the
    object's extent, not its highest-contrast part."""
    centres, areas = np.full((len(blurred), 2), np.nan), np.zeros(len(blurred))
    rows, cols = np.indices(blurred.shape[1:])
    merge = np.ones((3, 3), np.uint8)
    for i, d in enumerate(blurred):
        mask = d > threshold
        count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(mask.astype(np.uint8), merge), connectivity=8)
        if count <= 1:
            continue
        region = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))) & mask
        weights = np.where(region, np.minimum(d / (2 * threshold), 1.0), 0.0)
        total = weights.sum()
        centres[i] = ((cols * weights).sum() / total, (rows * weights).sum() / total)
        areas[i] = region.sum()
    return centres, areas


def _interpolate(centres: np.ndarray) -> np.ndarray:
    """Frames without a centre take the linear interpolation of their neighbours' (needs one)."""
    centres = centres.copy()
    found = ~np.isnan(centres[:, 0])
    index = np.arange(len(centres))
    for axis in range(2):
        centres[~found, axis] = np.interp(index[~found], index[found], centres[found, axis])
    return centres


def _velocity_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best agreement of two (n, 2) / (m, 2) velocity sequences over every time offset that
    overlaps them by at least half the shorter one: 2<a, b> / (|a|^2 + |b|^2), regularised by
    the noise speed. 1 only for equal velocities (direction and speed), 0 for unrelated or still
    against moving, -1 for the reverse motion."""
    # A one-frame clip has no velocities: it shows no motion, like a still clip.
    a, b = (v if len(v) else np.zeros((1, 2)) for v in (a, b))
    n, m = len(a), len(b)
    overlap = max(1, (min(n, m) + 1) // 2)
    best = -1.0
    for lag in range(-(m - overlap), n - overlap + 1):
        x = a[max(lag, 0) : min(n, lag + m)]
        y = b[max(-lag, 0) : max(-lag, 0) + len(x)]
        floor = _NOISE_SPEED**2 * len(x)
        best = max(best, float((2 * (x * y).sum() + floor) / ((x * x).sum() + (y * y).sum() + floor)))
    return best


def concept_motion_fidelity(references: Sequence[np.ndarray], generated: np.ndarray) -> float:
    """Does `generated` move the way the reference clips of a motion concept do? In [-1, 1].

    Each clip is reduced to the trajectory of its dominant moving object (`object_trajectory`):
    a static-background model, so background texture, tracker clutter and the object's colour and
    texture never enter, only where the object is. The trajectory becomes per-frame velocities in
    frame sizes per frame, which drops the start position. `generated` is compared with each
    reference at every time offset (overlapping by at least half the shorter clip), which drops
    the phase of the motion within the clip and lets the clips differ in length; the agreement at
    an offset is 2<a, b> / (|a|^2 + |b|^2) over the overlapping velocities, so it rewards the same
    direction, path shape, turning sense and rhythm *and* the same speed (twice as fast scores
    0.8, the reverse motion -1). The score is the mean over references of the best offset.

    What it measures: the motion of one dominant object under a static camera. What it ignores:
    appearance, start position, phase, resolution. Outside its model: camera motion, several
    objects moving at once (the largest moving region wins), and an object that travels less than
    about its own width over the whole clip (its background is then partly unseen, so its centre
    is placed less precisely). Still or blank clips have zero velocity: two still clips agree
    (1.0), a still clip against moving references scores near 0. Deterministic, weight-free, never
    NaN. Validated against the shapes world's judge in benchmarks/RESULTS.md.
    """
    generated_velocity = np.diff(object_trajectory(generated), axis=0)
    if not references:
        raise ValueError("concept_motion_fidelity needs at least one reference clip")
    scores = [
        _velocity_similarity(np.diff(object_trajectory(reference), axis=0), generated_velocity)
        for reference in references
    ]
    return float(np.clip(np.mean(scores), -1.0, 1.0))


# --- CLIP metrics ------------------------------------------------------------------------------


def text_alignment(frames: np.ndarray, prompt: str, clip: ClipScorer) -> float:
    """CLIP score: cos(frame embedding, prompt embedding) x 100, mean over frames; in [-100, 100]."""
    images = clip.image_embeddings(check_frames(frames))
    text = clip.text_embeddings([prompt])
    return float((images @ text.T).mean()) * 100.0


def temporal_consistency(frames: np.ndarray, clip: ClipScorer) -> float:
    """Mean CLIP cosine of consecutive frames x 100; 100 for a clip whose frames all look alike."""
    frames = check_frames(frames)
    if len(frames) < 2:
        raise ValueError(f"temporal_consistency needs at least 2 frames, got {len(frames)}")
    images = clip.image_embeddings(frames)
    return float((images[1:] * images[:-1]).sum(dim=1).mean()) * 100.0


def appearance_leakage(
    generated: np.ndarray, reference: np.ndarray, base_generated: np.ndarray, clip: ClipScorer
) -> float:
    """How much more the generated clip looks like the reference than the base model's clip does, x 100.

    Similarity is the mean CLIP cosine over all (generated frame, reference frame) pairs --
    appearance, not timing, so frames are not paired by index and the clips may differ in length.
    Subtracting the base model's clip (same prompt and seed) removes what the prompt alone
    explains. Lower is better; exactly 0 when `generated` equals `base_generated`.
    """
    reference_mean = clip.image_embeddings(check_frames(reference, "reference")).mean(dim=0)
    tuned = clip.image_embeddings(check_frames(generated, "generated")) @ reference_mean
    base = clip.image_embeddings(check_frames(base_generated, "base_generated")) @ reference_mean
    return (float(tuned.mean()) - float(base.mean())) * 100.0


def appearance_diversity(clips: Sequence[np.ndarray], clip: ClipScorer) -> float:
    """1 - mean pairwise CLIP cosine of the clips' mean frame embeddings; 0 for identical clips.

    Range [0, 2]; higher means the clips (e.g. one per prompt) look more different.
    """
    if len(clips) < 2:
        raise ValueError(f"appearance_diversity needs at least 2 clips, got {len(clips)}")
    means = [clip.image_embeddings(check_frames(c, f"clips[{i}]")).mean(dim=0) for i, c in enumerate(clips)]
    means = [m / m.norm() for m in means]
    similarities = [float(a @ b) for a, b in combinations(means, 2)]
    return 1.0 - float(np.mean(similarities))
