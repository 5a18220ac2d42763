"""Real clip files for the data tests, written by the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np

from motionlora.data.video import write_video

# ffmpeg encoders for the containers write_video does not produce itself.
CODECS = {".webm": ["-c:v", "libvpx", "-b:v", "1M"], ".avi": ["-c:v", "mpeg4", "-q:v", "2"]}


def moving_square(frames: int = 8, width: int = 32, height: int = 32, seed: int = 0) -> np.ndarray:
    """A bright square moving right over a seed-coloured background: distinct content per seed."""
    rng = np.random.default_rng(seed)
    out = np.empty((frames, height, width, 3), np.uint8)
    out[:] = rng.integers(0, 160, size=3, dtype=np.uint8)
    side = max(4, min(width, height) // 4)
    for i in range(frames):
        x = (i * 3) % (width - side)
        out[i, height // 3 : height // 3 + side, x : x + side] = 255
    return out


def write_clip(path: Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    """mp4/mov/mkv/gif through write_video; webm (libvpx) and avi (mpeg4) through ffmpeg directly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        return write_video(path, frames, fps)
    height, width = frames.shape[1:3]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", *codec, "-pix_fmt", "yuv420p", "-f",
           {".webm": "webm", ".avi": "avi"}[path.suffix.lower()], str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def write_frame_folder(folder: Path, frames: np.ndarray, pattern: str = "frame_{}.png") -> Path:
    """One image per frame, numbered from 1 without zero padding (so name order is not frame order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, 1):
        iio.imwrite(folder / pattern.format(i), frame)
    return folder


def truncated_copy(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def tree_digest(root: Path) -> str:
    """sha256 over every file and folder under `root` (relative names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def data_cli(*argv: str) -> int:
    """Run a `motionlora data ...` command (without the `data` word) through its own parser."""
    import argparse

    from motionlora.data.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)
