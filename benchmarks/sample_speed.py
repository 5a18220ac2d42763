"""Sampling time per video: motionlora's sampler vs the stock diffusers pipeline, same settings.

All loops run in this process on the same model, prompt, seed, steps, frames and size, alternating
(ours, stock, ours compiled, ...) so drift in machine load hits them alike. Before timing, the
final latents of every loop are compared with the stock pipeline's: a speed-up only counts at equal
output (max |difference| within 1e-4 of the largest latent). Recorded in results.json:
`sample_speedup_vs_diffusers` (ours, eager) and, with `--compile`, `cpu_sample_speedup_vs_diffusers`
or `gpu_...` (ours with `SamplingConfig(compile=True)`: the UNet under torch.compile, its one-off
compile time reported beside it).

    .venv/bin/python benchmarks/sample_speed.py [--model DIR] [--steps 10] [--frames 8] [--repeats 5] [--compile]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from typing import Callable

import torch

from motionlora.generate import decode_latents, sample_latents
from motionlora.sampling import SamplingConfig
from motionlora.models import load_t2v_model
from motionlora.testing.stock import diffusers_pipeline
from motionlora.testing.tiny_model import build_tiny_model

from record import record

PROMPT = "a red circle moving left on a black background"
TOLERANCE = 1e-4


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(loops: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each loop, the loops taking turns."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, fn in loops.items():
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="diffusers-format model folder (default: a fresh tiny model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time ours with the UNet under torch.compile")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        source = args.model or build_tiny_model(tmp)
        model = load_t2v_model(source, device=device)
        pipe = diffusers_pipeline(model)
        config = SamplingConfig(steps=args.steps, frames=args.frames, guidance_scale=args.guidance)
        size = model.unet.config.sample_size * 2 ** (len(model.vae.config.block_out_channels) - 1)

        def stock_latents() -> torch.Tensor:
            generator = torch.Generator("cpu").manual_seed(0)
            return pipe(PROMPT, num_inference_steps=args.steps, num_frames=args.frames, height=size, width=size,
                        guidance_scale=args.guidance, generator=generator, output_type="latent").frames

        samplers = {"ours": (model, config)}
        if args.compile:
            samplers["ours compiled"] = (load_t2v_model(source, device=device), dataclasses.replace(config, compile=True))
        reference = stock_latents()
        scale = reference.abs().max().item()
        compile_s = None
        for name, (m, c) in samplers.items():
            start = time.perf_counter()
            latents = sample_latents(m, PROMPT, c, seed=0)  # the compiled sampler compiles here
            if c.compile:
                compile_s = time.perf_counter() - start
            difference = (latents - reference).abs().max().item()
            print(f"  {name}: latents max |difference| from diffusers {difference:.2e} (of max |latent| {scale:.2f})")
            if difference > TOLERANCE * scale:
                raise SystemExit(f"{name} does not reproduce diffusers' output: max |difference| {difference:.2e} > {TOLERANCE} x {scale:.2f}")

        def video(m, c) -> Callable[[], object]:
            return lambda: decode_latents(m, sample_latents(m, PROMPT, c, seed=0))

        def stock() -> object:
            generator = torch.Generator("cpu").manual_seed(0)
            return pipe(PROMPT, num_inference_steps=args.steps, num_frames=args.frames, height=size, width=size,
                        guidance_scale=args.guidance, generator=generator, output_type="np")

        loops = {name: video(m, c) for name, (m, c) in samplers.items()}
        loops["stock"] = stock
        for fn in loops.values():
            fn()  # warm-up
        seconds = timed(loops, args.repeats)

    label = "tiny (random)" if args.model is None else str(args.model)
    settings = {"steps": args.steps, "frames": args.frames, "size": size, "guidance": args.guidance, "repeats": args.repeats,
                "diffusers_s_per_video": round(seconds["stock"], 4)}
    entry = record("sample_speedup_vs_diffusers", seconds["stock"] / seconds["ours"], label,
                   {**settings, "ours_s_per_video": round(seconds["ours"], 4)})
    print(f"model {label}: {args.steps} steps, {args.frames} frames, {size}x{size}, CFG {args.guidance}, {entry['machine']['cpu']}")
    for name, value in seconds.items():
        print(f"  {name:14s} {value * 1000:8.1f} ms/video (median of {args.repeats}), {seconds['stock'] / value:.2f}x diffusers")
    if args.compile:
        key = f"{'gpu' if device == 'cuda' else 'cpu'}_sample_speedup_vs_diffusers"
        compiled = record(key, seconds["stock"] / seconds["ours compiled"], label,
                          {**settings, "ours_compiled_s_per_video": round(seconds["ours compiled"], 4),
                           "compile_s": round(compile_s, 1), "equal_output_tolerance": TOLERANCE})
        print(f"  {key} {compiled['value']:.2f}x; one-off compile {compile_s:.0f} s")


if __name__ == "__main__":
    main()
