"""Peak memory of ingest and preprocess on the hostile clips of issue 20, against an ordinary clip in
the same command: a 120-frame black 2048×2048 mp4 (tiny on disk, 1.5 GB decoded whole) and the same
at 400 frames, each run as its own `motionlora data` process (peak RSS from the kernel).

    python benchmarks/hostile_clips.py [--model models/shapes]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

def _peak_mb(argv: list[str]) -> float:
    """Peak RSS (MB) of one child process running `argv`."""
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
              "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script, *argv], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def _black_clip(path: Path, frames: int, size: int) -> Path:
    """An all-black H.264 clip, written frame by frame."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(str(path), (size, size), fps=8.0, codec="libx264", macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    black = np.zeros((size, size, 3), np.uint8)
    for _ in range(frames):
        writer.send(black)
    writer.close()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/shapes", help="base model for preprocess")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "motionlora", "data"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = {"ordinary (8 × 32×32)": (8, 32), "hostile (120 × 2048×2048)": (120, 2048), "hostile (400 × 2048×2048)": (400, 2048)}
        print("| clip | file size | decoded whole | ingest peak RSS | preprocess peak RSS |\n|---|---|---|---|---|")
        for name, (frames, size) in cases.items():
            source = root / f"src-{frames}-{size}"
            source.mkdir()
            clip = _black_clip(source / "clip.mp4", frames, size)
            ingested, encoded = root / f"in-{frames}-{size}", root / f"pre-{frames}-{size}"
            ingest = _peak_mb([*cli, "ingest", str(source), "--out", str(ingested), "--prompt", "black", "--quiet"])
            pre = _peak_mb([*cli, "preprocess", str(ingested), "--model", args.model, "--out", str(encoded), "--frames", "8",
                            "--size", "32", "--quiet"])
            decoded = frames * size * size * 3 / 2**20
            print(f"| {name} | {clip.stat().st_size / 1024:.0f} KB | {decoded:.0f} MB | {ingest:.0f} MB | {pre:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
