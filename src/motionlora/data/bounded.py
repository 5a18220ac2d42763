"""Bounded decoding: a clip's declared frame size is read before any frame is decoded, and frames are
streamed one at a time, so one hostile clip cannot take the memory of a whole batch.

A 16 KB mp4 of 120 black 2048×2048 frames decodes to 1.5 GB, and a 75 KB 10000×10000 GIF frame
to 300 MB. So: the frame size comes from the container's header (ffmpeg's stream header, the GIF's
or image's header) and is refused above `max_pixels` before decoding; frames are then read one at a
time — counted, checked, and (for preprocess) kept only when sampled, resized as they arrive — and a
clip longer than `max_frames` is refused as soon as its frame max_frames + 1 arrives. Peak memory
for one clip is therefore about two decoded source frames (ffmpeg's pipe and ours: 2 × max_pixels ×
3 bytes, 50 MB at the 4K default) plus the sampled frames at the training size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from motionlora.data.video import GIF_SUFFIXES

DEFAULT_MAX_PIXELS = 3840 * 2160  # 4K UHD
DEFAULT_MAX_FRAMES = 2000


class ClipTooLargeError(ValueError):
    """A clip's frames are larger, or more, than the decoding limits allow."""


@dataclass(frozen=True)
class DecodeLimits:
    """`max_pixels`: width × height of one frame; `max_frames`: frames per clip."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = DEFAULT_MAX_FRAMES

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def check_size(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ClipTooLargeError(f"frames of {width}x{height} = {width * height} pixels exceed the limit of "
                                    f"{self.max_pixels} pixels per frame (max_pixels); not decoded")

    def check_count(self, count: int) -> None:
        if count > self.max_frames:
            raise ClipTooLargeError(f"more than {self.max_frames} frames (max_frames); decoding stopped there")


@dataclass(frozen=True)
class ClipInfo:
    """What ingest records of a clip, read without holding its frames."""

    width: int
    height: int
    fps: float
    num_frames: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:  # reads the header only
        return image.size


def _video_header(path: Path) -> tuple[int, int, float]:
    """(width, height, fps) from ffmpeg's stream header, before any frame is decoded."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
    finally:
        reader.close()
    width, height = meta["size"]
    return int(width), int(height), float(meta.get("fps") or 0.0)


def _frame_files(folder: Path) -> list[Path]:
    from motionlora.data.decode import frame_files

    paths = frame_files(folder)
    if not paths:
        raise ValueError(f"{folder}: no png/jpg frames in the folder")
    return paths


def header(path: str | Path, frame_folder_fps: float, limits: DecodeLimits) -> tuple[int, int, float]:
    """(width, height, fps) of a clip from headers only, refused when a frame exceeds `max_pixels`."""
    path = Path(path)
    if path.is_dir():
        paths = _frame_files(path)
        limits.check_count(len(paths))
        width, height = _image_size(paths[0])
        fps = frame_folder_fps
    elif path.suffix.lower() in GIF_SUFFIXES:
        from PIL import Image

        with Image.open(path) as image:
            (width, height), duration = image.size, image.info.get("duration") or 125
        fps = 1000.0 / float(duration)
    else:
        width, height, fps = _video_header(path)
    limits.check_size(width, height)
    return width, height, fps


def iter_frames(path: str | Path, limits: DecodeLimits) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a clip, one at a time; call `header` first (it checks the frame size)."""
    path = Path(path)
    if path.is_dir():
        import imageio.v3 as iio

        paths = _frame_files(path)
        first = None
        for frame_path in paths:
            limits.check_size(*_image_size(frame_path))
            try:
                frame = iio.imread(frame_path, mode="RGB")
            except Exception as err:  # pillow raises many types for damaged images
                raise ValueError(f"frame {frame_path.name} does not decode ({err})") from err
            first = first if first is not None else frame.shape
            if frame.shape != first:
                raise ValueError(f"frame {frame_path.name} is {frame.shape[1]}x{frame.shape[0]}, the first frame is {first[1]}x{first[0]}")
            yield frame.astype(np.uint8, copy=False)
        return
    if path.suffix.lower() in GIF_SUFFIXES:
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            for count, frame in enumerate(ImageSequence.Iterator(image), 1):
                limits.check_count(count)
                yield np.asarray(frame.convert("RGB"))
        return
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        width, height = next(reader)["size"]
        limits.check_size(width, height)
        for count, buffer in enumerate(reader, 1):
            limits.check_count(count)
            yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def probe_clip(path: str | Path, frame_folder_fps: float, limits: DecodeLimits) -> ClipInfo:
    """Size, frame rate and frame count of a clip, decoding every frame once and keeping none."""
    width, height, fps = header(path, frame_folder_fps, limits)
    count = sum(1 for _ in iter_frames(path, limits))
    if count == 0:
        raise ValueError(f"{path}: no frames could be decoded")
    return ClipInfo(width, height, fps, count)


def read_selected(path: str | Path, indices: Sequence[int], limits: DecodeLimits,
                  transform: Callable[[np.ndarray], np.ndarray] = lambda frame: frame) -> np.ndarray:
    """The frames at `indices` (in that order; repeats allowed), each passed through `transform` as it
    is decoded; the others are dropped as they stream past."""
    header(path, 0.0, limits)
    wanted = set(indices)
    kept: dict[int, np.ndarray] = {}
    seen = 0
    for index, frame in enumerate(iter_frames(path, limits)):
        seen = index + 1
        if index in wanted:
            kept[index] = transform(frame)
            if len(kept) == len(wanted):
                break
    missing = sorted(wanted - set(kept))
    if missing:
        raise ValueError(f"{path}: frame {missing[0]} was asked for but the clip has only {seen} frames")
    return np.stack([kept[i] for i in indices])
