"""Decoding throughput of reference clips: clips/s and frames/s for each accepted format.

Writes N clips per format (moving-square content) to a temporary folder, then times
`motionlora.data.decode.decode_clip` over them (what preprocess runs per clip) and, separately,
the ingest check (`stream_errors`, a full ffmpeg decode to null, plus `decode_clip`). Encoding
is not timed.

    .venv/bin/python benchmarks/decode_throughput.py --clips 64 --frames 16 --size 64
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np

from motionlora.data.decode import decode_clip, stream_errors
from motionlora.data.video import write_video

FORMATS = ("mp4", "webm", "gif", "frames")


def _frames(count: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    out[:] = rng.integers(0, 160, size=3, dtype=np.uint8)
    side = size // 4
    for i in range(count):
        x = (i * 3) % (size - side)
        out[i, size // 3 : size // 3 + side, x : x + side] = 255
    return out


def _write(path: Path, frames: np.ndarray, fmt: str) -> Path:
    if fmt == "frames":
        path.mkdir()
        for i, frame in enumerate(frames):
            iio.imwrite(path / f"{i:05d}.png", frame)
        return path
    if fmt == "webm":
        height, width = frames.shape[1:3]
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", "8", "-i", "-", "-c:v", "libvpx", "-b:v", "1M", str(path)]
        subprocess.run(cmd, input=frames.tobytes(), check=True)
        return path
    return write_video(path, frames, 8.0)


def _time(paths: list[Path], check: bool) -> tuple[float, int]:
    start = time.perf_counter()
    frames = 0
    for path in paths:
        if check and not path.is_dir():
            assert stream_errors(path) is None, path
        frames += decode_clip(path).num_frames
    return time.perf_counter() - start, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="square frame side in pixels")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            suffix = "" if fmt == "frames" else f".{fmt}"
            paths = [_write(Path(tmp) / f"{fmt}_{i:03d}{suffix}", _frames(args.frames, args.size, i), fmt) for i in range(args.clips)]
            for mode, check in (("decode", False), ("ingest-check", True)):
                seconds, frames = _time(paths, check)
                results.append({"format": fmt, "mode": mode, "clips": args.clips, "frames_per_clip": args.frames,
                                "size": args.size, "seconds": round(seconds, 3),
                                "clips_per_s": round(args.clips / seconds, 1), "frames_per_s": round(frames / seconds, 1)})
    print(f"{'format':8} {'mode':13} {'clips/s':>8} {'frames/s':>9} {'seconds':>8}")
    for r in results:
        print(f"{r['format']:8} {r['mode']:13} {r['clips_per_s']:8.1f} {r['frames_per_s']:9.1f} {r['seconds']:8.2f}")
    print(json.dumps({"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "results": results}))


if __name__ == "__main__":
    main()
