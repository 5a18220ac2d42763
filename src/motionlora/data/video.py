"""Read and write video as uint8 frame arrays of shape (F, H, W, 3).

mp4 goes through the ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg needed); gif
through imageio's pillow plugin, so every clip the project writes can be read back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GIF_SUFFIXES = (".gif",)


@dataclass(frozen=True)
class Video:
    """Decoded frames plus the stream's frame rate."""

    frames: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """`frames` as a C-contiguous uint8 (F, H, W, 3) array with F, H, W >= 1, else a ValueError naming
    it: the one layout every writer, metric and scorer of clips takes."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"{name} must have shape (F, H, W, 3) with F, H, W > 0, got {frames.shape}")
    return np.ascontiguousarray(frames)


def encode_gif(frames: np.ndarray, fps: float = 8.0) -> bytes:
    """An animated, looping gif of `frames`, in memory (for reports that embed their clips)."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", check_frames(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def write_video(path: str | Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    """Write `frames` to `path`; the suffix picks the format (.gif, else an H.264 mp4/mov/mkv)."""
    import imageio_ffmpeg

    frames = check_frames(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in GIF_SUFFIXES:
        path.write_bytes(encode_gif(frames, fps))
        return path
    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv444p" if width % 2 or height % 2 else "yuv420p",
        macro_block_size=1,
        output_params=["-crf", "10"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()
    return path
