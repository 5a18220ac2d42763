"""`motionlora models ...` commands."""

from __future__ import annotations

import argparse


def _tiny(args: argparse.Namespace) -> int:
    from motionlora.testing.tiny_model import build_tiny_model

    out = build_tiny_model(args.out, seed=args.seed)
    print(f"wrote tiny T2V model to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="build or inspect base models")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    tiny = sub.add_parser("tiny", help="write a tiny random diffusers-format T2V model (offline)")
    tiny.add_argument("--out", required=True, help="output folder")
    tiny.add_argument("--seed", type=int, default=0, help="initialisation seed")
    tiny.set_defaults(func=_tiny)
