"""Turn a decoded clip into the model's input: pick F frames, bring them to WxH, scale to [-1, 1].

Sampling works on a *timeline*: the clip's own frames, or, with a target fps, the frames nearest to
each tick of that rate (so a 24 fps and an 8 fps clip of the same motion sample alike).
* `uniform` spreads the F frames evenly over the whole timeline: the whole motion, at whatever rate
  that implies.
* `stride` takes the first F frames of the timeline: a fixed rate, starting at the first frame.
Frames are never repeated (no padding, no target fps above the clip's own): a clip too short for
F frames is an error naming the numbers, because a padded clip would teach the model a stutter.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SAMPLE_MODES = ("uniform", "stride")
CROP_MODES = ("center", "resize")


def timeline(num_frames: int, fps: float, target_fps: float | None = None) -> np.ndarray:
    """Source frame indices at `target_fps` (all frames when it is None or the source rate is unknown)."""
    if target_fps is None or fps <= 0:
        return np.arange(num_frames)
    if target_fps <= 0:
        raise ValueError(f"target fps must be positive, got {target_fps}")
    if target_fps > fps + 1e-6:
        raise ValueError(f"--fps {target_fps:g} is above the clip's {fps:g} fps: frames would repeat")
    ticks = max(1, math.floor(num_frames * target_fps / fps + 1e-9))
    return np.minimum(np.floor(np.arange(ticks) * fps / target_fps + 1e-9).astype(int), num_frames - 1)


def sample_indices(
    num_frames: int, count: int, mode: str = "uniform", fps: float = 0.0, target_fps: float | None = None
) -> np.ndarray:
    """Indices of the `count` source frames to keep (see the module docstring for the modes)."""
    if mode not in SAMPLE_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; choose one of {SAMPLE_MODES}")
    if count < 1:
        raise ValueError(f"frame count must be at least 1, got {count}")
    ticks = timeline(num_frames, fps, target_fps)
    if len(ticks) < count:
        rate = f" at {target_fps:g} fps" if target_fps and fps > 0 else ""
        raise ValueError(f"clip has {len(ticks)} frames{rate}, fewer than the {count} asked for")
    if mode == "stride":
        return ticks[:count]
    return ticks[np.round(np.linspace(0, len(ticks) - 1, count)).astype(int)]


def resize_frames(frames: np.ndarray, width: int, height: int, crop: str = "center") -> np.ndarray:
    """Bring uint8 (F, H, W, 3) frames to (F, height, width, 3).

    `center` scales to cover WxH keeping the aspect ratio and crops the middle; `resize` stretches.
    Frames already of the target size are returned untouched (no resampling blur).
    """
    import cv2

    if crop not in CROP_MODES:
        raise ValueError(f"unknown crop mode {crop!r}; choose one of {CROP_MODES}")
    src_h, src_w = frames.shape[1:3]
    if (src_w, src_h) == (width, height):
        return frames
    if crop == "center":
        scale = max(width / src_w, height / src_h)
        new_w, new_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    else:
        new_w, new_h = width, height
    interpolation = cv2.INTER_AREA if new_w * new_h < src_w * src_h else cv2.INTER_LINEAR
    left, top = (new_w - width) // 2, (new_h - height) // 2
    out = [cv2.resize(frame, (new_w, new_h), interpolation=interpolation)[top : top + height, left : left + width] for frame in frames]
    return np.ascontiguousarray(np.stack(out))


def to_model_input(frames: np.ndarray) -> torch.Tensor:
    """uint8 (F, H, W, 3) -> float32 (F, 3, H, W) in [-1, 1], the VAE's input range."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return tensor / 127.5 - 1.0
