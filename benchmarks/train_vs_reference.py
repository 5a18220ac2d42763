"""Our trainer vs the reference recipe (MotionDirector's per-step work): same model, same clips,
same noise, same process — and every difference between them measured on its own.

Loops, each on its own copy of the base model:
* the reference as released (`benchmarks/reference_recipe.py` documents what it does per step);
* the reference with our changes applied one at a time, cumulatively (the "ladder");
* our trainer (`motionlora.train.step.Trainer`, what `motionlora train` runs), with and without
  folding the frozen spatial LoRA into the base weights.

The loops take turns in rounds (a few steps each, round-robin) so a busy machine slows all alike;
each ratio is a loop's total time over ours for the same number of steps. Then the last ladder
rung, set to compute what our trainer computes (spatial path every step, no AD loss), and our
trainer run side by side and their loss trajectories are compared step by step.

Batch 1 clip per step, as the reference recipe trains.

    .venv/bin/python benchmarks/train_vs_reference.py [--model models/shapes] [--steps 30] [--rounds 5]
                                                      [--threads 2] [--record]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import record  # noqa: E402
from reference_recipe import ReferenceRecipe, ReferenceSettings  # noqa: E402

from motionlora.data.frames import to_model_input  # noqa: E402
from motionlora.data.preprocess import encode_frames  # noqa: E402
from motionlora.models.encoders import encode_prompts  # noqa: E402
from motionlora.models import load_t2v_model  # noqa: E402
from shapesworld.render import ClipSpec, caption, render_clip  # noqa: E402
from motionlora.train.config import TrainConfig  # noqa: E402
from motionlora.train.distributed import DistContext  # noqa: E402
from motionlora.train.losses import draw_noise, training_scheduler  # noqa: E402
from motionlora.train.step import MicroBatch, Trainer, add_training_adapters  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Cumulative changes from the released reference recipe towards ours, in the order applied.
LADDER: tuple[tuple[str, dict], ...] = (
    ("reference recipe as released", {}),
    ("- gradient checkpointing", {"gradient_checkpointing": False}),
    ("- text encoder every step (embeddings cached)", {"encode_text_each_step": False}),
    ("- discarded work (spatial-LoRA grads in the temporal path; temporal LoRA at scale 0 instead of off)",
     {"spatial_grads_in_temporal_path": False, "temporal_lora_scale_zero": False}),
    ("- LoRA on every temporal linear, rank 32, dropout 0.1 (tap-k, rank 16, no dropout)", {"preset": "tap-k", "rank": 16, "dropout": 0.0}),
)


def reference_clips(count: int, frames: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """(count, F, 3, H, W) in [-1, 1]: the sample concept's reference clips (a green triangle zigzagging on stripes)."""
    spec = ClipSpec("triangle", "green", "stripes", "zigzag", frames=frames, size=size)
    pixels = torch.stack([to_model_input(render_clip(spec, seed=seed)) for seed in range(count)])
    return pixels, [caption(spec)] * count


class Data:
    """Cached latents and text embeddings of the clips, and the noise of each step."""

    def __init__(self, base, pixels: torch.Tensor, captions: list[str], batch: int) -> None:
        self.latents = torch.stack([encode_frames(base.vae, clip) for clip in pixels])
        self.text = encode_prompts(base.tokenizer, base.text_encoder, captions).float().cpu()
        self.captions, self.batch = captions, batch
        self.timesteps = base.scheduler.config.num_train_timesteps

    def at(self, step: int):
        indices = [(step * self.batch + i) % len(self.latents) for i in range(self.batch)]
        noise = draw_noise([step * 1000 + i for i in range(self.batch)], self.latents.shape[1:], self.timesteps)
        return indices, noise


def reference_loop(base, data: Data, settings: ReferenceSettings) -> Callable[[int], dict[str, float]]:
    recipe = ReferenceRecipe(copy.deepcopy(base), training_scheduler(base.scheduler.config), settings)

    def step(index: int) -> dict[str, float]:
        indices, noise = data.at(index)
        return recipe.step(data.latents[indices], [data.captions[i] for i in indices], noise, data.text[indices])

    return step


def our_loop(base, data: Data, config: TrainConfig) -> Callable[[int], dict[str, float]]:
    unet = add_training_adapters(copy.deepcopy(base.unet), config)
    trainer = Trainer(unet, training_scheduler(base.scheduler.config), config, DistContext(0, 1, 0, torch.device("cpu")))

    def step(index: int) -> dict[str, float]:
        indices, noise = data.at(index)
        return trainer.step([MicroBatch(data.latents[indices], data.text[indices], noise)])

    return step


def ladder_settings(config: TrainConfig) -> list[tuple[str, ReferenceSettings]]:
    settings, rungs = ReferenceSettings(learning_rate=config.learning_rate, seed=config.seed), []
    for label, change in LADDER:
        settings = dataclasses.replace(settings, **change)
        rungs.append((label, settings))
    return rungs


def timed_rounds(loops: dict[str, Callable], steps: int, rounds: int, warmup: int) -> dict[str, float]:
    """Seconds per step of each loop, over `steps` steps taken in `rounds` round-robin turns."""
    for run in loops.values():
        for index in range(warmup):
            run(index)
    seconds = dict.fromkeys(loops, 0.0)
    per_round = max(1, steps // rounds)
    for turn in range(rounds):
        for name, run in loops.items():
            tick = time.perf_counter()
            for index in range(warmup + turn * per_round, warmup + (turn + 1) * per_round):
                run(index)
            seconds[name] += time.perf_counter() - tick
    return {name: total / (per_round * rounds) for name, total in seconds.items()}


def coinciding_losses(base, data: Data, config: TrainConfig, steps: int) -> dict:
    """The last ladder rung set to compute what our trainer computes, side by side with ours
    (with and without folding): the largest step-wise difference of the temporal losses."""
    matched = dataclasses.replace(ladder_settings(config)[-1][1], spatial_probability=1.0, ad_loss=False)
    reference = reference_loop(base, data, matched)
    folded = our_loop(base, data, config)
    unfolded = our_loop(base, data, dataclasses.replace(config, fold_spatial_lora=False))
    rows = [(reference(i)["loss_mse"], folded(i)["loss_mse"], unfolded(i)["loss_mse"]) for i in range(steps)]
    return {
        "steps": steps,
        "max_abs_difference_folded": max(abs(r - f) for r, f, _ in rows),
        "max_abs_difference_unfolded": max(abs(r - u) for r, _, u in rows),
        "reference_losses": [round(r, 6) for r, _, _ in rows],
        "our_losses": [round(f, 6) for _, f, _ in rows],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "shapes"), help="diffusers-format T2V model folder")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin turns of the loops")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--clips", type=int, default=4, help="reference clips")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--loss-steps", type=int, default=20, help="steps of the coinciding-recipes loss check")
    parser.add_argument("--record", action="store_true", help="store the ratio in benchmarks/results.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    base = load_t2v_model(args.model)
    data = Data(base, *reference_clips(args.clips, args.frames, args.size), args.batch)
    config = TrainConfig(batch_size=args.batch)
    loops = {label: reference_loop(base, data, settings) for label, settings in ladder_settings(config)}
    loops["ours, without folding the frozen spatial LoRA"] = our_loop(base, data, dataclasses.replace(config, fold_spatial_lora=False))
    loops["ours (motionlora train)"] = our_loop(base, data, config)
    seconds = timed_rounds(loops, args.steps, args.rounds, args.warmup)
    ours = seconds["ours (motionlora train)"]
    losses = coinciding_losses(base, data, config, args.loss_steps)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"model {args.model}: batch {args.batch} clip(s) of {args.frames} frames {args.size}x{args.size}, "
          f"{args.steps} timed steps per loop in {args.rounds} round-robin turns, {args.threads} thread(s)")
    print("| loop | ms/step | samples/s | time vs ours |")
    print("|---|---|---|---|")
    for label, value in seconds.items():
        print(f"| {label} | {1000 * value:.0f} | {args.batch / value:.2f} | {value / ours:.2f}x |")
    speedup = seconds[LADDER[0][0]] / ours
    print(f"speed-up of ours over the reference recipe: {speedup:.2f}x; process peak RSS {peak_rss:.0f} MB")
    print(f"loss check over {losses['steps']} steps (reference matched to ours): max |difference| "
          f"{losses['max_abs_difference_folded']:.1e} with folding, {losses['max_abs_difference_unfolded']:.1e} without")
    if args.record:
        settings = {k: v for k, v in vars(args).items() if k != "record"}
        record("train_speedup_vs_reference", speedup, Path(args.model).name, {
            "settings": settings, "ms_per_step": {k: round(1000 * v, 1) for k, v in seconds.items()},
            "loss_check": losses, "peak_rss_mb": round(peak_rss),
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
