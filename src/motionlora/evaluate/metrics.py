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


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """`frames` as a C-contiguous uint8 (F, H, W, 3) array with F >= 1, else a ValueError naming it."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"{name} must have shape (F, H, W, 3) with F, H, W > 0, got {frames.shape}")
    return np.ascontiguousarray(frames)


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
