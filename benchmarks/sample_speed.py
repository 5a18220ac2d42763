"""Sampling time per video: motionlora's sampler vs the stock diffusers pipeline, same settings.

Both run in this process on the same model, prompt, seed, steps, frames and size, alternating
(ours, stock, ours, stock, ...) so drift in machine load hits both alike; the ratio of medians is
recorded as `sample_speedup_vs_diffusers` in results.json.

    .venv/bin/python benchmarks/sample_speed.py [--model DIR] [--steps 10] [--frames 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from motionlora.generate import SamplingConfig, diffusers_pipeline, generate_video
from motionlora.models import build_tiny_model, load_t2v_model

from record import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="diffusers-format model folder (default: a fresh tiny model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        source = args.model or build_tiny_model(tmp)
        model = load_t2v_model(source, device="cuda" if torch.cuda.is_available() else "cpu")
        pipe = diffusers_pipeline(model)
        config = SamplingConfig(steps=args.steps, frames=args.frames, guidance_scale=args.guidance)
        size = model.unet.config.sample_size * 2 ** (len(model.vae.config.block_out_channels) - 1)
        prompt = "a red circle moving left on a black background"

        def ours() -> None:
            generate_video(model, prompt, config, seed=0)

        def stock() -> None:
            generator = torch.Generator("cpu").manual_seed(0)
            pipe(prompt, num_inference_steps=args.steps, num_frames=args.frames, height=size, width=size,
                 guidance_scale=args.guidance, generator=generator, output_type="np")

        ours(), stock()  # warm-up
        times = {"ours": [], "stock": []}
        for _ in range(args.repeats):
            for name, fn in (("ours", ours), ("stock", stock)):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                start = time.perf_counter()
                fn()
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    ours_s, stock_s = statistics.median(times["ours"]), statistics.median(times["stock"])
    label = "tiny (random)" if args.model is None else str(args.model)
    entry = record(
        "sample_speedup_vs_diffusers",
        stock_s / ours_s,
        label,
        {"ours_s_per_video": round(ours_s, 4), "diffusers_s_per_video": round(stock_s, 4),
         "steps": args.steps, "frames": args.frames, "size": size, "guidance": args.guidance, "repeats": args.repeats},
    )
    print(f"model {label}: {args.steps} steps, {args.frames} frames, {size}x{size}, CFG {args.guidance}")
    print(f"  ours     {ours_s * 1000:8.1f} ms/video (median of {args.repeats})")
    print(f"  diffusers {stock_s * 1000:7.1f} ms/video")
    print(f"  speedup  {entry['value']:.3f}x on {entry['machine']['cpu']} ({entry['machine']['gpu'] or 'no GPU'})")


if __name__ == "__main__":
    main()
