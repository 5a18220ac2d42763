"""`motionlora train`: its arguments as a `TrainRequest`, and a request as its arguments.

The same command runs as one process or under torchrun (`torchrun --nproc-per-node N -m motionlora
train ...`): the loop reads its rank from torchrun's environment. `request_from_args` and
`train_argv` are each other's inverse; `train_argv` is the one place a request becomes a command
line, for the launchers that start training in other processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from motionlora.train.request import TrainRequest


def _configure_logging() -> None:
    """INFO on rank 0, warnings only elsewhere; each line names its rank."""
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def request_from_args(args: argparse.Namespace) -> TrainRequest:
    """The run the parsed arguments ask for: the recipe's `train` section with the --set overrides."""
    from motionlora.config import load_config
    from motionlora.train.config import TrainConfig
    from motionlora.tracking import TrackingOptions
    from motionlora.train.request import TrainRequest

    tracking = TrackingOptions(
        enabled=not args.no_tracking, tracking_uri=args.tracking_uri, experiment=args.experiment,
        parent_run_id=args.parent_run_id, run_name=args.run_name,
    )
    return TrainRequest(load_config(TrainConfig, args.config, "train", args.set), args.data, args.out, args.model, tracking)


def train_argv(request: TrainRequest) -> list[str]:
    """The `motionlora train` arguments that run `request` in another process. Every setting goes as
    `--set key=<JSON>` (JSON is YAML, which --set reads), with no recipe, so the other process needs
    no file of this one and resolves the very same config."""
    argv = ["--data", request.data, "--out", request.out]
    if request.model is not None:
        argv += ["--model", request.model]
    for key, value in request.config.to_dict().items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    tracking = request.tracking
    if not tracking.enabled:
        argv.append("--no-tracking")
    for flag, value in (("--tracking-uri", tracking.tracking_uri), ("--experiment", tracking.experiment),
                        ("--parent-run-id", tracking.parent_run_id), ("--run-name", tracking.run_name)):
        if value is not None:
            argv += [flag, value]
    return argv


def _train(args: argparse.Namespace) -> int:
    from motionlora.train.loop import NonFiniteTrainingError, OutOfMemoryHintError, train

    _configure_logging()
    request = request_from_args(args)
    try:
        result = train(request.config, request.data, request.out, model=request.model, tracking=request.tracking)
    except OutOfMemoryHintError as err:
        print(f"motionlora train: error: {err}", file=sys.stderr)
        return 3
    except NonFiniteTrainingError as err:
        print(f"motionlora train: error: {err}", file=sys.stderr)
        return 4
    if int(os.environ.get("RANK", "0")) == 0:
        run = result.summary["mlflow"]
        tracked = f"; MLflow run {run['run_id']} at {run['tracking_uri']}" if run else ""
        print(f"wrote motion adapter to {result.adapter_dir} after {request.config.steps} steps{tracked}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` to the `motionlora` parser."""
    p = subparsers.add_parser(
        "train", help="train a motion adapter on preprocessed clips (also under torchrun)",
        description="Train a motion LoRA (TAP preset, dual-path recipe) on the output of `motionlora data preprocess`. "
        "Resumes from the newest checkpoint in --out.",
    )
    p.add_argument("--config", help="YAML recipe whose `train` section sets the defaults (e.g. configs/tiny.yaml)")
    p.add_argument("--data", required=True, help="preprocessed folder (index.json + shards)")
    p.add_argument("--out", required=True, help="run folder: checkpoints/, adapter/, train_summary.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a `train` setting")
    p.add_argument("--model", help="base model (folder, hub id, s3://, gs://); default: the recipe's `model`")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    p.add_argument("--experiment", help="MLflow experiment name (default: the parent run's, else 'motionlora')")
    p.add_argument("--parent-run-id", help="nest the MLflow run under this run")
    p.add_argument("--run-name", help="MLflow run name (default: the --out folder's name)")
    p.add_argument("--no-tracking", action="store_true", help="record nothing in MLflow")
    p.set_defaults(func=_train)
