"""`motionlora evaluate`: its arguments as an `EvaluationJob` and settings for `evaluate.job.evaluate`,
which scores a motion adapter against its base model, writes metrics.json and report.html, and logs
both (plus the sample videos) to MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from motionlora.evaluate.outputs import METRICS_FILE, REPORT_FILE
from motionlora.motion.highway_settings import HIGHWAY_SCOPES
from motionlora.tracking import TrackingOptions


def read_prompts(path: str | Path) -> tuple[str, ...]:
    """One prompt per non-empty line; `#` starts a comment line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    prompts = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not prompts:
        raise ValueError(f"{path}: no prompts in the file")
    return prompts


def _given(**flags: Any) -> dict[str, Any]:
    """The flags that were given (argparse leaves the others None)."""
    return {key: value for key, value in flags.items() if value is not None}


def _evaluate(args: argparse.Namespace) -> int:
    from motionlora.evaluate.job import EvaluationJob, evaluate, evaluation_config, parse_seeds

    config = evaluation_config(args.config, args.set, **_given(
        prompts=read_prompts(args.prompts) if args.prompts else None,
        seeds=parse_seeds(args.seeds) if args.seeds else None, clip_model=args.clip_model))
    sampling = _given(highway=args.highway, beta=args.beta, pli_tau=args.pli_tau, steps=args.steps, frames=args.frames,
                      guidance_scale=args.guidance)
    job = EvaluationJob(args.model, args.adapter, args.references, args.out, args.config, args.fps, args.device)
    tracking = TrackingOptions(tracking_uri=args.tracking_uri, experiment=args.experiment, parent_run_id=args.parent_run_id)
    run = evaluate(job, config, sampling, tracking)
    for name, stats in run.result.aggregate.items():
        print(f"{name:>30}: {stats['mean']:8.3f}  95% CI [{stats['ci95_low']:.3f}, {stats['ci95_high']:.3f}]  n={stats['n']}")
    out_dir = Path(args.out)
    print(f"wrote {out_dir / METRICS_FILE} and {out_dir / REPORT_FILE}; MLflow run {run.run_id}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="score a motion adapter against its base model")
    p.add_argument("--model", required=True, help="base model: folder, hub id, or s3://… / gs://… URL")
    p.add_argument("--adapter", required=True, help="motion adapter folder, models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/adapter")
    p.add_argument("--references", required=True, help="ingest output folder (manifest.jsonl) with the reference clips")
    p.add_argument("--prompts", help="text file, one evaluation prompt per line (default: the recipe's evaluate.prompts)")
    p.add_argument("--out", required=True, help="output folder for metrics.json, report.html and videos/")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2 (default: the recipe's, else 0,1)")
    p.add_argument("--clip-model", help="CLIP model folder or hub id (default: the recipe's, else openai/clip-vit-base-patch32)")
    p.add_argument("--config", help="YAML recipe: its `evaluate` and `sampling` sections set the defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an `evaluate` setting")
    p.add_argument("--highway", choices=HIGHWAY_SCOPES, help="appearance highway scope (default: the adapter's)")
    p.add_argument("--beta", type=float, help="appearance highway β (default: the adapter's)")
    p.add_argument("--pli-tau", type=int, help="phased LoRA integration τ (default: the adapter's)")
    p.add_argument("--steps", type=int, help="denoising steps")
    p.add_argument("--frames", type=int, help="frames per video")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--fps", type=float, default=8.0, help="frame rate of the written gifs")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    p.add_argument("--experiment", help="MLflow experiment (default: the parent run's, else motionlora)")
    p.add_argument("--parent-run-id", help="nest the evaluation run under this MLflow run")
    p.add_argument("--device", help="where to sample (default: cuda when available, else cpu)")
    p.set_defaults(func=_evaluate)
