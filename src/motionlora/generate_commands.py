"""`motionlora generate`: sample a video with (or without) a motion adapter and write mp4/gif."""

from __future__ import annotations

import argparse
import dataclasses

import torch

from motionlora.data.video import write_video
from motionlora.generate import SCHEDULERS, SamplingConfig, generate_video
from motionlora.models.loading import load_t2v_model
from motionlora.motion.adapter import load_motion_adapter
from motionlora.motion.highway import HIGHWAY_SCOPES


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (W, H)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x256, got {text!r}") from None
    return width, height


def _generate(args: argparse.Namespace) -> int:
    dtype = torch.float16 if args.fp16 else torch.float32
    model = load_t2v_model(args.model, dtype=dtype, device=args.device)
    highway, beta, tau = "off", 1.0, None
    if args.adapter:
        info = load_motion_adapter(model.unet, args.adapter, model.identity)
        highway, beta, tau = info.highway_scope, info.highway_beta, info.pli_tau
    width, height = args.size if args.size else (None, None)
    config = SamplingConfig(
        steps=args.steps,
        guidance_scale=args.guidance,
        frames=args.frames,
        width=width,
        height=height,
        scheduler=args.scheduler,
        negative_prompt=args.negative_prompt,
        highway=args.highway or highway,
        beta=args.beta if args.beta is not None else beta,
        pli_tau=args.pli_tau if args.pli_tau is not None else tau,
        lora_scale=args.lora_scale,
    )
    frames = generate_video(model, args.prompt, config, seed=args.seed, progress=True)
    out = write_video(args.out, frames, fps=args.fps)
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    print(f"wrote {out} ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]}; seed={args.seed}, {settings})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="sample a video, optionally with a motion adapter")
    p.add_argument("--model", required=True, help="base model: folder, hub id, or s3://… / gs://… URL")
    p.add_argument("--adapter", help="motion adapter folder (adapter_model.safetensors, adapter_config.json, motion.json)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--out", required=True, help="output video: .mp4 or .gif")
    p.add_argument("--highway", choices=HIGHWAY_SCOPES, help="appearance highway scope (default: the adapter's, else off)")
    p.add_argument("--beta", type=float, help="appearance highway scale β (default: the adapter's, else 1.0)")
    p.add_argument("--pli-tau", type=int, help="phased LoRA integration: adapter only at timesteps t > τ (default: the adapter's)")
    p.add_argument("--lora-scale", type=float, default=1.0, help="scale of the motion LoRA update")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=parse_size, help="WxH (default: the model's native size)")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), default="ddim")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--fp16", action="store_true", help="load the model in float16 (GPU)")
    p.set_defaults(func=_generate)
