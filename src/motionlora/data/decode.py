"""Decode any clip motionlora accepts, and tell a broken file from a file that is not a video.

A clip is a video file (mp4, mov, webm, mkv, avi, gif) or a folder of numbered png/jpg frames.
Decoding (`data.bounded`) yields whatever it can: a truncated webm, mkv or avi silently gives its
first frames. Ingest must not accept those, so `stream_errors` runs a full ffmpeg decode and returns its
error log, and `sniff` says what a file that does not decode really holds (text, an image, ...),
so the reason written to rejected.jsonl tells a person what to fix.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePath

import numpy as np

from motionlora.data.bounded import DecodeLimits, header, iter_frames
from motionlora.data.video import Video

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
# Frame folders carry no frame rate; this is the rate recorded for them unless told otherwise.
DEFAULT_FRAME_FOLDER_FPS = 8.0
# What `sniff` calls the containers of VIDEO_SUFFIXES: a file sniffed as one of these that does not
# decode is truncated or corrupt, anything else is not a video at all.
VIDEO_CONTAINERS = ("mp4/mov container", "matroska/webm container", "avi container", "gif image")
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
_FFMPEG_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")
_DIGITS = re.compile(r"\d+")


def frame_sort_key(name: str | PurePath) -> tuple[int, int, str]:
    """Order frames by the last number in their name (frame_2 before frame_10), then by name."""
    stem = PurePath(name).stem
    numbers = _DIGITS.findall(stem)
    return (0, int(numbers[-1]), stem) if numbers else (1, 0, stem)


def frame_files(folder: Path) -> list[Path]:
    """The png/jpg frames in `folder` (any case of suffix), in frame order."""
    frames = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    return sorted(frames, key=frame_sort_key)


def decode_clip(path: str | Path, frame_folder_fps: float = DEFAULT_FRAME_FOLDER_FPS, limits: DecodeLimits = DecodeLimits()) -> Video:
    """Decode every frame of a clip — a folder of frames or a video file — within `limits`
    (`data.bounded`: the frame size is checked before decoding, the count while decoding)."""
    _, _, fps = header(path, frame_folder_fps, limits)
    frames = list(iter_frames(path, limits))
    if not frames:
        raise ValueError(f"{path}: no frames could be decoded")
    return Video(np.stack(frames), float(fps))


def stream_errors(path: str | Path) -> str | None:
    """ffmpeg's error log for a full decode of the first video stream, or None when it is clean."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error",
           "-i", str(path), "-map", "0:v:0", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    lines = [_FFMPEG_PREFIX.sub("", line).strip() for line in proc.stderr.splitlines()]
    lines = [line for line in lines if line]
    if proc.returncode == 0 and not lines:
        return None
    if any("matches no streams" in line for line in lines):  # what ffmpeg says when -map finds nothing
        return "no video stream found"
    return "; ".join(dict.fromkeys(lines[:3])) or f"ffmpeg exited with status {proc.returncode}"


def sniff(path: str | Path) -> str:
    """What the first bytes of the file say it is, in words a person understands."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return "empty"
    if head[4:8] in _ISO_BOXES:
        return "mp4/mov container"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm container"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi container"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif image"
    if head.startswith(b"\x89PNG"):
        return "png image"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg image"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf")) or head[257:262] == b"ustar":
        return "archive"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut in two by the 512-byte read
            return "unknown binary data"
        text = head[: err.start].decode("utf-8")
    if all(ch.isprintable() or ch.isspace() for ch in text):
        return f"text ({text.strip()[:40]!r})"
    return "unknown binary data"
