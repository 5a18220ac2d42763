"""`motionlora shapes ...` commands: render shapes-world clips, judge clips from their pixels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shapesworld.pretrain_commands import register as register_pretrain
from shapesworld.render import BACKGROUNDS, COLORS, MOTIONS, SHAPES, ClipSpec, caption


def _render(args: argparse.Namespace) -> int:
    from shapesworld.world import write_clips

    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    spec = ClipSpec(args.shape, args.color, args.background, args.motion, frames=args.frames, size=args.size)
    write_clips(spec, args.count, Path(args.out), seed=args.seed, fps=args.fps)
    print(f"wrote {args.count} clips of {caption(spec)!r} (seeds {args.seed}..{args.seed + args.count - 1}) to {args.out}")
    return 0


def _judge(args: argparse.Namespace) -> int:
    from motionlora.data.decode import decode_clip
    from shapesworld.judge import judge_clip

    for path in args.videos:
        judgement = judge_clip(decode_clip(path).frames)
        fields = {name: getattr(judgement, name) for name in ("color", "shape", "background", "motion")}
        if args.json:
            print(json.dumps({"file": str(path), **fields}))
        else:
            print(f"{path}: " + " ".join(f"{name}={value}" for name, value in fields.items()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    shapes = subparsers.add_parser("shapes", help="render or judge shapes-world clips")
    sub = shapes.add_subparsers(dest="shapes_command", required=True, metavar="SUBCOMMAND")
    register_pretrain(sub)

    render = sub.add_parser("render", help="write N clips of one spec as mp4 plus captions.jsonl")
    render.add_argument("--motion", required=True, choices=MOTIONS)
    render.add_argument("--shape", required=True, choices=SHAPES)
    render.add_argument("--color", required=True, choices=tuple(COLORS))
    render.add_argument("--background", required=True, choices=BACKGROUNDS)
    render.add_argument("--count", type=int, default=1, help="number of clips; clip i uses seed SEED+i")
    render.add_argument("--frames", type=int, default=8, help="frames per clip")
    render.add_argument("--size", type=int, default=32, help="frame width and height in pixels")
    render.add_argument("--seed", type=int, default=0, help="seed of the first clip")
    render.add_argument("--fps", type=float, default=8.0, help="frame rate written to the mp4s")
    render.add_argument("--out", required=True, help="output folder")
    render.set_defaults(func=_render)

    judge = sub.add_parser("judge", help="print the colour, shape, background and motion read from each clip")
    judge.add_argument("videos", nargs="+", metavar="VIDEO", help="mp4 or gif clips")
    judge.add_argument("--json", action="store_true", help="one JSON object per clip instead of text")
    judge.set_defaults(func=_judge)
