"""Training speed on the tiny model: the trainer over cached latents and text embeddings (what
`motionlora train` does) next to the same trainer encoding the frames with the VAE and the prompts
with the text encoder at every step, measured in the same run.

Each loop runs in a fresh process, so each peak RSS is its own; both train the same LoRAs on the
same clips with the same noise (the `train` section of configs/tiny.yaml, validation off).

    .venv/bin/python benchmarks/train_speed.py [--steps 30] [--warmup 3] [--frames 8] [--size 32]
                                               [--clips 4] [--threads 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _clips(count: int, frames: int, size: int) -> np.ndarray:
    """(count, F, H, W, 3) uint8: a bright square sliding right over a per-clip background."""
    out = np.empty((count, frames, size, size, 3), np.uint8)
    side = size // 4
    for c in range(count):
        out[c] = np.random.default_rng(c).integers(0, 160, size=3, dtype=np.uint8)
        for f in range(frames):
            x = (f * 3) % (size - side)
            out[c, f, size // 3 : size // 3 + side, x : x + side] = 255
    return out


def _encode(model, pixels: list, captions: list[str], indices: list[int]):
    """Latents and text embeddings of clips `indices`, as preprocess computes them."""
    import torch

    from motionlora.data.preprocess import encode_frames
    from motionlora.models.encoders import encode_prompts

    latents = torch.stack([encode_frames(model.vae, pixels[i]) for i in indices])
    return latents, encode_prompts(model.tokenizer, model.text_encoder, [captions[i] for i in indices]).float().cpu()


def _captions(count: int) -> list[str]:
    return [f"a white square slides right, clip {c}" for c in range(count)]


def _loop(mode: str, model_dir: str, cache: str, clips: np.ndarray, args: argparse.Namespace, results) -> None:
    """One benchmark loop (runs in its own process); puts its measurements on `results`.

    `cached` reads the latents and text embeddings the parent encoded (like training on a
    preprocessed folder) and never loads the encoders; `online` encodes each batch at each step.
    """
    import torch
    from safetensors.torch import load_file

    from motionlora.config import load_config
    from motionlora.data.frames import to_model_input
    from motionlora.models import load_t2v_model
    from motionlora.train.config import TrainConfig
    from motionlora.train.distributed import DistContext, ShardPlan
    from motionlora.train.losses import draw_noise, training_scheduler
    from motionlora.train.step import MicroBatch, Trainer, add_training_adapters

    torch.set_num_threads(args.threads)
    config = load_config(TrainConfig, CONFIGS / "tiny.yaml", "train", ["validation_prompts=[]", f"steps={args.steps + args.warmup}"])
    encoders = ("vae", "text_encoder", "tokenizer") if mode == "online" else ()
    model = load_t2v_model(model_dir, parts=("unet", "scheduler", *encoders))
    add_training_adapters(model.unet, config)
    trainer = Trainer(model.unet, training_scheduler(model.scheduler.config), config, DistContext(0, 1, 0, torch.device("cpu")))
    pixels, captions = [to_model_input(clip) for clip in clips], _captions(len(clips))
    stored = load_file(cache) if mode == "cached" else {}
    plan = ShardPlan(len(clips), config.batch_size, 1, 1, config.seed)
    timed = encoding = 0.0
    for step in range(args.warmup + args.steps):
        tick = time.perf_counter()
        slots = plan.slots(step, 0, 0)
        indices = [i for i, _ in slots]
        if mode == "cached":
            latents, text = stored["latents"][indices], stored["text_embeddings"][indices]
        else:
            latents, text = _encode(model, pixels, captions, indices)
        encoded = time.perf_counter()
        noise = draw_noise([s for _, s in slots], latents.shape[1:], trainer.noise_scheduler.config.num_train_timesteps)
        trainer.step([MicroBatch(latents, text, noise)])
        if step >= args.warmup:
            timed += time.perf_counter() - tick
            encoding += encoded - tick
    results.put({
        "mode": mode,
        "steps_per_s": args.steps / timed,
        "samples_per_s": args.steps * config.batch_size / timed,
        "data_ms_per_step": 1000 * encoding / args.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batch_size": config.batch_size,
    })


def _preprocess(model_dir: str, clips: np.ndarray, cache: Path) -> float:
    """Encode every clip once (what `motionlora data preprocess` does); returns the seconds it took."""
    from safetensors.torch import save_file

    from motionlora.data.frames import to_model_input
    from motionlora.models import load_t2v_model

    model = load_t2v_model(model_dir, parts=("vae", "text_encoder", "tokenizer"))
    tick = time.perf_counter()
    latents, text = _encode(model, [to_model_input(c) for c in clips], _captions(len(clips)), list(range(len(clips))))
    seconds = time.perf_counter() - tick
    save_file({"latents": latents, "text_embeddings": text}, cache)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per loop")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32, help="frame width and height in pixels")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads per loop")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from motionlora.testing.tiny_model import build_tiny_model

    torch.set_num_threads(args.threads)
    clips = _clips(args.clips, args.frames, args.size)
    spawn = mp.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory(prefix="motionlora-bench-") as tmp:
        model_dir = str(build_tiny_model(Path(tmp) / "tiny", seed=0))
        cache = Path(tmp) / "cache.safetensors"
        encode_seconds = _preprocess(model_dir, clips, cache)
        for mode in ("cached", "online"):
            results = spawn.Queue()
            process = spawn.Process(target=_loop, args=(mode, model_dir, str(cache), clips, args, results))
            process.start()
            rows.append(results.get())
            process.join()
            if process.exitcode != 0:
                print(f"{mode} loop failed with exit code {process.exitcode}", file=sys.stderr)
                return 1
    cached, online = rows
    print(f"tiny model, {args.clips} clips of {args.frames} frames {args.size}x{args.size}, batch {cached['batch_size']}, "
          f"{args.steps} timed steps, {args.threads} thread(s)")
    print("| loop | steps/s | samples/s | data ms/step | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for row in rows:
        label = "cached latents (motionlora train)" if row["mode"] == "cached" else "VAE + text encoder every step"
        print(f"| {label} | {row['steps_per_s']:.2f} | {row['samples_per_s']:.2f} | {row['data_ms_per_step']:.1f} | {row['peak_rss_mb']:.0f} |")
    ratio = cached["steps_per_s"] / online["steps_per_s"]
    print(f"speed-up from caching: {ratio:.2f}x (one-time encode of all {args.clips} clips: {encode_seconds:.2f} s)")
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        report = {"settings": settings, "loops": rows, "speedup": ratio, "one_time_encode_s": encode_seconds}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
