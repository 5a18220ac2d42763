"""Data-parallel scaling of our trainer on the CPU (gloo): samples/s with 1 process vs 2 processes.

Why: `motionlora train` under torchrun syncs the LoRA gradients with one manual all-reduce per
optimizer step (`train.distributed.average_gradients`), not DDP. This measures what that buys on
real processes: each run is a real `torchrun --standalone` launch of this file's worker, every rank
trains its own `ShardPlan` share of the global batch with `Trainer.step`, exactly as the training
loop does. Per-core fair: every process gets the same number of threads (OMP_NUM_THREADS and
torch.set_num_threads), so 2 processes use twice the cores of 1 and ideal scaling is 2.0.

The per-rank batch is fixed, so 2 processes train 2x the samples per step; scaling is
samples/s(2 processes) / samples/s(1 process). Each worker also times the gradient all-reduce
inside the step (including waiting for the slower rank) against the rest of the step, times a bare
all-reduce of the same size after a barrier, and checks that the LoRA weights are bit-identical on
all ranks after the timed steps.

    .venv/bin/python benchmarks/ddp_scaling.py [--model models/shapes] [--steps 20] [--warmup 3]
                                               [--batch 2] [--threads 1] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import record  # noqa: E402
from train_vs_reference import reference_clips  # noqa: E402

import motionlora.train.step as step_module  # noqa: E402
from motionlora.data.preprocess import PreprocessedDataset, encode_frames  # noqa: E402
from motionlora.models.encoders import encode_prompts  # noqa: E402
from motionlora.models import load_t2v_model  # noqa: E402
from motionlora.train.config import TrainConfig  # noqa: E402
from motionlora.train.distributed import (  # noqa: E402
    DistContext,
    ShardPlan,
    all_gather,
    broadcast_parameters,
    gather_digests,
    init_distributed,
    shutdown,
)
from motionlora.train.losses import training_scheduler  # noqa: E402
from motionlora.train.step import Trainer, add_training_adapters, micro_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROCESS_COUNTS = (1, 2)
GOOD_SCALING = 1.6
ALLREDUCE_PROBES = 10


class SyncTimer:
    """Adds up the seconds the trainer spends in `average_gradients` (patched into step.py)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        inner = step_module.average_gradients

        def timed(*args: Any, **kwargs: Any) -> torch.Tensor:
            tick = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - tick

        step_module.average_gradients = timed


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def encoded_clips(model_dir: str, clips: int, frames: int, size: int) -> PreprocessedDataset:
    """The reference clips' latents and text embeddings, encoded once, as `motionlora train` reads them."""
    base = load_t2v_model(model_dir, parts=("vae", "text_encoder", "tokenizer"))
    pixels, captions = reference_clips(clips, frames, size)
    with torch.no_grad():
        latents = torch.stack([encode_frames(base.vae, clip) for clip in pixels])
    text = encode_prompts(base.tokenizer, base.text_encoder, captions).float().cpu()
    entries = [{"id": str(i), "caption": c} for i, c in enumerate(captions)]
    return PreprocessedDataset(Path(model_dir), {}, latents, text, entries)


def build_trainer(model_dir: str, config: TrainConfig, ctx: DistContext) -> Trainer:
    """The UNet with training LoRAs and its Trainer; rank 0's LoRA weights on every rank."""
    model = load_t2v_model(model_dir, parts=("unet", "scheduler"))
    add_training_adapters(model.unet, config)
    trainer = Trainer(model.unet, training_scheduler(model.scheduler.config), config, ctx)
    broadcast_parameters(trainer.params, ctx)
    return trainer


def step_runner(trainer: Trainer, dataset: PreprocessedDataset, ctx: DistContext) -> Callable[[int], None]:
    """One optimizer step on this rank's ShardPlan share of global step `step`."""
    config = trainer.config
    plan = ShardPlan(len(dataset), config.batch_size, ctx.world_size, config.gradient_accumulation, config.seed)
    timesteps = trainer.noise_scheduler.config.num_train_timesteps

    def run(step: int) -> None:
        trainer.step([micro_batch(dataset, plan.slots(step, 0, ctx.rank), timesteps, ctx.device)])

    return run


def bare_allreduce_ms(numel: int, ctx: DistContext) -> float:
    """Milliseconds of one all-reduce of `numel` floats with all ranks already waiting (no imbalance)."""
    if not ctx.distributed:
        return 0.0
    flat = torch.zeros(numel)
    seconds = 0.0
    for _ in range(ALLREDUCE_PROBES):
        dist.barrier()
        tick = time.perf_counter()
        dist.all_reduce(flat)
        seconds += time.perf_counter() - tick
    return 1000 * seconds / ALLREDUCE_PROBES


def worker(args: argparse.Namespace) -> None:
    """One rank under torchrun: warm up, time `args.steps` steps between barriers, report on rank 0."""
    torch.set_num_threads(args.threads)
    ctx = init_distributed()
    dataset = encoded_clips(args.model, args.clips, args.frames, args.size)
    trainer = build_trainer(args.model, TrainConfig(batch_size=args.batch), ctx)
    run = step_runner(trainer, dataset, ctx)
    for step in range(args.warmup):
        run(step)
    sync = SyncTimer()
    barrier(ctx)
    start = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        run(step)
    barrier(ctx)
    seconds = time.perf_counter() - start
    per_rank = all_gather(torch.tensor([seconds, sync.seconds], dtype=torch.float64), ctx)
    digests = gather_digests(trainer.params, ctx)
    numel = sum(p.numel() for p in trainer.params) + 3
    bare_ms = bare_allreduce_ms(numel, ctx)
    if ctx.is_main:
        samples = args.batch * ctx.world_size * args.steps
        report = {
            "processes": ctx.world_size,
            "threads_each": torch.get_num_threads(),
            "seconds": seconds,
            "samples_per_s": samples / seconds,
            "ms_per_step": 1000 * seconds / args.steps,
            "sync_ms_per_step": [round(1000 * float(t[1]) / args.steps, 2) for t in per_rank],
            "compute_ms_per_step": [round(1000 * float(t[0] - t[1]) / args.steps, 2) for t in per_rank],
            "bare_allreduce_ms": round(bare_ms, 3),
            "allreduce_floats": numel,
            "weights_identical": len(set(digests)) == 1,
            "load_average": os.getloadavg()[0],
        }
        Path(args.out).write_text(json.dumps(report, indent=2))
    shutdown(ctx)


def launch(processes: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run the worker under torchrun with `processes` ranks; returns rank 0's report."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
        str(Path(__file__).resolve()), "--worker", "--out", str(out),
        "--model", args.model, "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--batch", str(args.batch), "--threads", str(args.threads),
        "--clips", str(args.clips), "--frames", str(args.frames), "--size", str(args.size),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def print_table(reports: list[dict[str, Any]]) -> None:
    base = reports[0]["samples_per_s"]
    print("| processes | threads each | samples/s | scaling |")
    print("|---|---|---|---|")
    for r in reports:
        print(f"| {r['processes']} | {r['threads_each']} | {r['samples_per_s']:.2f} | {r['samples_per_s'] / base:.2f}x |")


def _ranks(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def print_split(reports: list[dict[str, Any]]) -> None:
    """Where each run's step time goes, per rank: compute, gradient sync (incl. waiting), bare all-reduce."""
    print(f"scaling below {GOOD_SCALING}: per-rank time split (ms/step)")
    print("| processes | step | compute per rank | sync per rank (incl. wait) | bare all-reduce | load average |")
    print("|---|---|---|---|---|---|")
    for r in reports:
        print(f"| {r['processes']} | {r['ms_per_step']:.1f} | {_ranks(r['compute_ms_per_step'])} | {_ranks(r['sync_ms_per_step'])} "
              f"| {r['bare_allreduce_ms']:.2f} | {r['load_average']:.1f} |")
    one, two = reports[0], reports[-1]
    slowdown = max(two["compute_ms_per_step"]) / one["compute_ms_per_step"][0]
    print(f"compute per step is {slowdown:.2f}x the 1-process compute (same per-rank batch: ideal 1.00x, "
          f"above it means the cores are shared); sync costs {max(two['sync_ms_per_step']):.1f} ms/step, "
          f"of which {two['bare_allreduce_ms']:.2f} ms is the bare all-reduce; the rest is flattening and copying the "
          f"gradients, waiting for the slower rank and gloo's threads waiting for a busy core")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "shapes"), help="diffusers-format T2V model folder")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=2, help="clips per step per rank")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--clips", type=int, default=4, help="reference clips")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--record", action="store_true", help="store ddp_2proc_scaling in benchmarks/results.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        reports = [launch(n, args, Path(tmp) / f"{n}.json") for n in PROCESS_COUNTS]
    scaling = reports[-1]["samples_per_s"] / reports[0]["samples_per_s"]
    print(f"model {args.model}: {args.batch} clip(s) of {args.frames} frames {args.size}x{args.size} per rank per step, "
          f"{args.steps} timed steps after {args.warmup} warm-up, gloo")
    print_table(reports)
    print(f"LoRA weights identical on all ranks after the timed steps: {reports[-1]['weights_identical']}")
    if scaling < GOOD_SCALING:
        print_split(reports)
    if args.record:
        settings = {k: v for k, v in vars(args).items() if k not in ("record", "worker", "out")}
        record("ddp_2proc_scaling", scaling, Path(args.model).name, {"settings": settings, "runs": reports})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
