"""`motionlora generate`: sample a video with (or without) a motion adapter and write mp4/gif."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from motionlora.cli_args import parse_size
from motionlora.motion.highway_settings import HIGHWAY_SCOPES
from motionlora.sampling import SCHEDULERS, sampling_config


def sampling_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The `SamplingConfig` settings given as flags of `motionlora generate` (None: not given)."""
    flags = {"steps": args.steps, "guidance_scale": args.guidance, "frames": args.frames, "scheduler": args.scheduler,
             "compile": args.compile, "negative_prompt": args.negative_prompt, "highway": args.highway, "beta": args.beta,
             "pli_tau": args.pli_tau, "lora_scale": args.lora_scale}
    if args.size:
        flags["width"], flags["height"] = args.size
    return {key: value for key, value in flags.items() if value is not None}


def _generate(args: argparse.Namespace) -> int:
    import torch

    from motionlora.data.video import write_video
    from motionlora.generate import generate_video
    from motionlora.models.loading import load_t2v_model, pick_device
    from motionlora.motion.adapter import load_motion_adapter
    from motionlora.tracking.adapters import resolve_adapter

    adapter = resolve_adapter(args.adapter, args.tracking_uri) if args.adapter else None  # before minutes of model loading
    dtype = torch.float16 if args.fp16 else torch.float32
    model = load_t2v_model(args.model, dtype=dtype, device=pick_device(args.device))
    info = load_motion_adapter(model.unet, adapter, model.identity) if adapter else None
    config = sampling_config(args.config, args.set, info, **sampling_flags(args))
    frames = generate_video(model, args.prompt, config, seed=args.seed, progress=True)
    out = write_video(args.out, frames, fps=args.fps)
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    print(f"wrote {out} ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]}; seed={args.seed}, {settings})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="sample a video, optionally with a motion adapter")
    p.add_argument("--model", required=True, help="base model: folder, hub id, or s3://… / gs://… URL")
    p.add_argument("--adapter", help="motion adapter: a folder (adapter_model.safetensors, adapter_config.json, motion.json), "
                   "models:/motion-CONCEPT@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/adapter (downloaded once, cached)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI for models:/ and runs:/ adapters "
                   "(default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt")
    p.add_argument("--out", required=True, help="output video: .mp4 or .gif")
    p.add_argument("--highway", choices=HIGHWAY_SCOPES, help="appearance highway scope (default: the adapter's, else off)")
    p.add_argument("--beta", type=float, help="appearance highway scale β (default: the adapter's, else 1.0)")
    p.add_argument("--pli-tau", type=int, help="phased LoRA integration: adapter only at timesteps t > τ (default: the adapter's)")
    p.add_argument("--lora-scale", type=float, help="scale of the motion LoRA update (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="denoising steps (default 25)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale, 1 = off (default 7.5)")
    p.add_argument("--frames", type=int, help="frames to generate (default 16)")
    p.add_argument("--size", type=parse_size, help="WxH (default: the model's native size)")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="sampler (default ddim)")
    p.add_argument("--compile", action="store_const", const=True,
                   help="torch.compile the UNet first: faster per video after a one-off compile (for many videos)")
    p.add_argument("--config", help="YAML recipe whose `sampling` section sets the defaults (e.g. configs/tiny.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a `sampling` setting")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--device", help="where to sample (default: cuda when available, else cpu)")
    p.add_argument("--fp16", action="store_true", help="load the model in float16 (GPU)")
    p.set_defaults(func=_generate)
