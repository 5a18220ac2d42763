"""`motionlora ...`: one sub-command group per library area, each registered by its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from typing import Sequence

# Each module defines `register(subparsers)`, adding its commands with a `func(args) -> int` default.
# Other packages add command groups the same way through the `motionlora.commands` entry-point group
# (the shapes world adds `motionlora shapes ...`).
COMMAND_GROUP = "motionlora.commands"
COMMAND_MODULES = (
    "motionlora.models.commands",
    "motionlora.data.commands",
    "motionlora.train.commands",
    "motionlora.generate_commands",
    "motionlora.evaluate.commands",
    "motionlora.registry.commands",
    "motionlora.motion.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionlora", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda entry: entry.name):
        entry.load().register(subparsers)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a user's input or setup can cause: bad values; missing, unreadable or unwritable files; a
    full disk; MLflow's errors once a command has talked to MLflow (an unreachable server, a missing
    model), without importing MLflow just for this."""
    mlflow_errors = sys.modules.get("mlflow.exceptions")
    return (OSError, ValueError) + ((mlflow_errors.MlflowException,) if mlflow_errors else ())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as err:
        message = str(err)
        if "mlflow.exceptions" in sys.modules:
            from motionlora.tracking.errors import describe

            message = describe(err)
        print(f"motionlora {args.command}: error: {message}", file=sys.stderr)
        return 2
