"""`motionlora ...`: one sub-command group per library area, each registered by its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Each module defines `register(subparsers)`, adding its commands with a `func(args) -> int` default.
COMMAND_MODULES = (
    "motionlora.models.commands",
    "motionlora.data.commands",
    "motionlora.train.commands",
    "motionlora.generate_commands",
    "motionlora.evaluate.commands",
    "motionlora.registry.commands",
    "motionlora.shapes.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionlora", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as err:
        print(f"motionlora {args.command}: error: {err}", file=sys.stderr)
        return 2
