"""`python -m pipelines run-local|compile|submit|schedule` — the pipeline's commands.

They live here, not under `motionlora`, because the library never imports kfp.
"""

import argparse
import sys
from pathlib import Path
from typing import Sequence

DEFAULT_RECIPE = "configs/shapes.yaml"


def _add_arguments(parser: argparse.ArgumentParser, recipe: str | None) -> None:
    parser.add_argument("--config", default=recipe, help="YAML recipe: passed to the steps as `recipe`, and its `gate` "
                        f"section sets the gate thresholds (default: {recipe or 'none, the pipeline defaults'})")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter (value parsed as YAML), e.g. --set steps=60; repeatable")


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", required=True, help="Kubeflow Pipelines API endpoint; the token is read from $KFP_TOKEN")
    parser.add_argument("--namespace", default="kubeflow", help="Kubernetes namespace (profile) of the run")
    parser.add_argument("--experiment", default="motionlora", help="KFP experiment")
    parser.add_argument("--package", type=Path, help="compiled pipeline YAML (default: the checked-in one)")


def _run_local(args: argparse.Namespace) -> int:
    from pipelines.arguments import build_arguments
    from pipelines.local import run_local

    return run_local(build_arguments(args.config, args.set), verbose=args.verbose)


def _compile(args: argparse.Namespace) -> int:
    from pipelines.compile import compile_pipeline

    print(f"wrote {compile_pipeline(args.out)}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from pipelines import remote
    from pipelines.arguments import build_arguments
    from pipelines.compile import COMPILED

    arguments = build_arguments(args.config, args.set)
    run_id = remote.submit(remote.client(args.host, args.namespace), args.package or COMPILED, arguments,
                           args.experiment, args.namespace, args.run_name)
    print(f"submitted run {run_id} to {args.host} (experiment {args.experiment}, namespace {args.namespace})")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from pipelines import remote
    from pipelines.arguments import build_arguments
    from pipelines.compile import COMPILED

    cron, arguments = remote.check_cron(args.cron), build_arguments(args.config, args.set)
    job_id = remote.schedule(remote.client(args.host, args.namespace), args.package or COMPILED, arguments,
                             args.experiment, args.namespace, cron, args.name)
    print(f"scheduled recurring run {job_id} ({args.cron!r}) on {args.host}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pipelines.compile import COMPILED

    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = sub.add_parser("run-local", help="run the whole pipeline here with kfp.local (what `make run` does)")
    _add_arguments(local, DEFAULT_RECIPE)
    local.add_argument("--verbose", action="store_true",
                       help="also show what kfp.local and the steps print (executor inputs, library warnings, "
                            "logs), which otherwise goes only to the step logs under the run's output folder")
    local.set_defaults(func=_run_local)

    comp = sub.add_parser("compile", help="compile the pipeline to YAML")
    comp.add_argument("--out", type=Path, default=COMPILED, help=f"output file (default: {COMPILED})")
    comp.set_defaults(func=_compile)

    submit = sub.add_parser("submit", help="start one run on a Kubeflow Pipelines endpoint")
    _add_cluster(submit)
    _add_arguments(submit, None)
    submit.add_argument("--run-name", help="KFP run name")
    submit.set_defaults(func=_submit)

    schedule = sub.add_parser("schedule", help="create a recurring run on a Kubeflow Pipelines endpoint")
    _add_cluster(schedule)
    _add_arguments(schedule, None)
    schedule.add_argument("--cron", required=True, help='KFP 6-field cron, seconds first, e.g. "0 0 2 * * *"')
    schedule.add_argument("--name", default="motion-customization-nightly", help="recurring run name")
    schedule.set_defaults(func=_schedule)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as err:
        print(f"python -m pipelines {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
