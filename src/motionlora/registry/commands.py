"""`motionlora registry list|show|promote|rollback`: the registry for people, with the pipeline's rules.

A manual `promote` applies the gate the version was assessed with by its pipeline (recorded in its
tags), unless `--config`/`--set` say otherwise; overriding a failing gate takes `--force --reason`.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import socket
import sys
from typing import Any, Callable

from motionlora.registry.names import MODEL_PREFIX


def _model(text: str) -> str:
    """A registered model name, or a concept (`zigzag` -> `motion-zigzag`)."""
    from motionlora.registry.names import model_name

    return text if text.startswith(MODEL_PREFIX) else model_name(text)


def _actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (motionlora registry)"


def _client(args: argparse.Namespace) -> Any:
    from motionlora.tracking import tracking_client

    return tracking_client(args.tracking_uri)


def _reported(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Registry and lock errors become one line on stderr and exit status 2, not a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from motionlora.registry.lock import LockLostError, LockTimeoutError
        from motionlora.tracking.errors import MlflowException, describe

        try:
            return func(args)
        except (MlflowException, LockTimeoutError, LockLostError) as err:
            print(f"motionlora registry {args.registry_command}: error: {describe(err)}", file=sys.stderr)
            return 2

    return run


def _list(args: argparse.Namespace) -> int:
    from motionlora.registry.names import is_lock_model
    from motionlora.registry.promotion import AliasState

    client = _client(args)
    models = [m for m in client.search_registered_models(f"name LIKE '{MODEL_PREFIX}%'") if not is_lock_model(m.name)]
    if not models:
        print("no motion models registered")
    for model in sorted(models, key=lambda m: m.name):
        print(f"{model.name}: {AliasState.read(client, model.name).describe()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from motionlora.registry.names import ALIASES
    from motionlora.registry.promotion import AliasState, consistency_problems

    client, name = _client(args), _model(args.model)
    state = AliasState.read(client, name)
    print(f"{name}: {state.describe()}")
    for problem in consistency_problems(client, name):
        print(f"  INCONSISTENT: {problem}")
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version), reverse=True)
    for version in versions[: args.versions]:
        aliases = [a for a in ALIASES if getattr(state, a.replace("-", "_")) == str(version.version)]
        print(f"\nv{version.version}{' [' + ', '.join(aliases) + ']' if aliases else ''}  run {version.run_id}")
        for key, value in sorted(version.tags.items()):
            indented = str(value).replace("\n", "\n      ")
            print(f"    {key.removeprefix('motionlora.')}: {indented}")
    return 0


def _gate(args: argparse.Namespace, client: Any, name: str) -> Any:
    from motionlora.config import load_config
    from motionlora.registry.gate import GateConfig
    from motionlora.registry.promotion import recorded_gate

    if args.config is None and not args.set:
        return recorded_gate(client, name, args.version) or GateConfig()
    return load_config(GateConfig, args.config, "gate", args.set)


def _promote(args: argparse.Namespace) -> int:
    from motionlora.registry.promotion import promote

    client, name = _client(args), _model(args.model)
    result = promote(client, name, args.version, _gate(args, client, name), _actor(), force=args.force,
                     reason=args.reason, lock_timeout_s=args.lock_timeout)
    print(result.describe(), end="")
    if result.action == "rejected":
        print("\nnot promoted: the gate failed (override with --force --reason TEXT)")
        return 1
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from motionlora.registry.promotion import rollback

    result = rollback(_client(args), _model(args.model), _actor(), args.reason, lock_timeout_s=args.lock_timeout)
    print(result.describe(), end="")
    return 0


def _repair(args: argparse.Namespace) -> int:
    from motionlora.registry.repair import repair

    lines = repair(_client(args), args.experiment, older_than_s=args.older_than * 3600, by=f"registry repair by {_actor()}")
    print("\n".join(lines) if lines else f"no pipeline run has been RUNNING for more than {args.older_than:g} h")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from motionlora.registry.repair import unlock

    print(unlock(_client(args), _model(args.model), args.reason, by=_actor()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `registry list|show|promote|rollback|repair|unlock` to the `motionlora` parser."""
    registry = subparsers.add_parser("registry", help="list, inspect, promote and roll back registered motion adapters")
    registry.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    sub = registry.add_subparsers(dest="registry_command", required=True, metavar="SUBCOMMAND")

    ls = sub.add_parser("list", help="every motion-<concept> model and its aliases")
    ls.set_defaults(func=_reported(_list))

    show = sub.add_parser("show", help="aliases, consistency and the newest versions' tags")
    show.add_argument("model", help="registered model name or concept (zigzag = motion-zigzag)")
    show.add_argument("--versions", type=int, default=5, help="how many of the newest versions to show")
    show.set_defaults(func=_reported(_show))

    promote = sub.add_parser("promote", help="make a version champion if it passes the gate")
    promote.add_argument("model", help="registered model name or concept")
    promote.add_argument("version", help="version number")
    promote.add_argument("--config", help="YAML recipe whose `gate` section sets the thresholds "
                         "(default: the gate the version's pipeline used)")
    promote.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a `gate` setting")
    promote.add_argument("--force", action="store_true", help="promote even if the gate fails (needs --reason)")
    promote.add_argument("--reason", help="why (recorded on the version; required with --force)")
    promote.add_argument("--lock-timeout", type=float, default=120.0, help="seconds to wait for a concurrent promotion")
    promote.set_defaults(func=_reported(_promote))

    back = sub.add_parser("rollback", help="give champion back to previous-champion")
    back.add_argument("model", help="registered model name or concept")
    back.add_argument("--reason", required=True, help="why (recorded on the demoted version)")
    back.add_argument("--lock-timeout", type=float, default=120.0, help="seconds to wait for a concurrent promotion")
    back.set_defaults(func=_reported(_rollback))

    fix = sub.add_parser("repair", help="close out pipeline runs that were killed: mark them FAILED and withdraw their versions")
    fix.add_argument("--older-than", type=float, default=24.0, metavar="HOURS",
                     help="only runs RUNNING for longer than this (0: every RUNNING run — when you know none is alive)")
    fix.add_argument("--experiment", default=None, help="MLflow experiment of the pipeline runs (default: motionlora)")
    fix.set_defaults(func=_reported(_repair))

    unlock = sub.add_parser("unlock", help="break a promotion lock whose holder is gone, recording why")
    unlock.add_argument("model", help="registered model name or concept")
    unlock.add_argument("--reason", required=True, help="why the holder is known to be gone (recorded on the lock marker)")
    unlock.set_defaults(func=_reported(_unlock))
