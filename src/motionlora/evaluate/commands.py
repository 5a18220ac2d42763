"""`motionlora evaluate`: score a motion adapter against its base model, write metrics.json and
report.html, and log both (plus the sample videos) to MLflow."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from motionlora.config import load_config
from motionlora.data.decode import decode_clip
from motionlora.data.manifest import read_manifest
from motionlora.data.video import write_video
from motionlora.evaluate.clip import load_clip
from motionlora.evaluate.outputs import METRICS_FILE, REPORT_FILE, VIDEOS_DIR
from motionlora.evaluate.report import title_sentence, write_report
from motionlora.evaluate.run import EvaluationConfig, EvaluationResult, evaluate_adapter
from motionlora.generate import sampling_config
from motionlora.models.loading import load_t2v_model
from motionlora.motion.adapter import load_motion_adapter
from motionlora.tracking.adapters import resolve_adapter
from motionlora.motion.highway import HIGHWAY_SCOPES
from motionlora.tracking import start_run


def read_prompts(path: str | Path) -> tuple[str, ...]:
    """One prompt per non-empty line; `#` starts a comment line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    prompts = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not prompts:
        raise ValueError(f"{path}: no prompts in the file")
    return prompts


def read_references(ingest_dir: str | Path) -> list[np.ndarray]:
    """The accepted clips of an ingest output folder, decoded."""
    return [decode_clip(Path(ingest_dir) / row.path).frames for row in read_manifest(ingest_dir)]


def reference_concept(ingest_dir: str | Path) -> str | None:
    """The concept the ingest folder's clips were ingested for (None when they do not say)."""
    concepts = sorted({str(row.concept) for row in read_manifest(ingest_dir) if row.concept})
    return ", ".join(concepts) if concepts else None


def mlflow_metrics(result: EvaluationResult) -> dict[str, float]:
    """Every aggregate's mean and 95% CI bounds, as MLflow metrics (`motion_gain_mean`, `motion_gain_ci95_low`, ...)."""
    out = {}
    for name, stats in result.aggregate.items():
        out.update({f"{name}_mean": stats["mean"], f"{name}_ci95_low": stats["ci95_low"],
                    f"{name}_ci95_high": stats["ci95_high"]})
    return out


def write_outputs(result: EvaluationResult, references: list[np.ndarray], out_dir: Path, title: str, fps: float,
                  verdict: str | None = None) -> None:
    """metrics.json, report.html and one gif per generated video under `videos/`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METRICS_FILE).write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    write_report(result, references, out_dir / REPORT_FILE, title, fps, verdict)
    for key, frames in result.videos.items():
        write_video(out_dir / VIDEOS_DIR / f"{key}.gif", frames, fps)


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    overrides = list(args.set)
    if args.prompts:
        overrides.append(f"prompts={json.dumps(list(read_prompts(args.prompts)))}")
    if args.seeds:
        overrides.append(f"seeds=[{args.seeds}]")
    if args.clip_model:
        overrides.append(f"clip_model={json.dumps(args.clip_model)}")
    config = load_config(EvaluationConfig, args.config, "evaluate", overrides)
    adapter = resolve_adapter(args.adapter, args.tracking_uri)
    model = load_t2v_model(args.model, device=args.device)
    info = load_motion_adapter(model.unet, adapter, model.identity)
    flags = {"highway": args.highway, "beta": args.beta, "pli_tau": args.pli_tau, "steps": args.steps, "frames": args.frames,
             "guidance_scale": args.guidance}
    sampling = sampling_config(args.config, (), info, **{key: value for key, value in flags.items() if value is not None})
    references = read_references(args.references)
    clip = load_clip(config.clip_model, device=args.device)
    out_dir = Path(args.out)
    concept = reference_concept(args.references) or Path(args.adapter).name
    title = title_sentence(concept, info.preset, sampling.highway, sampling.beta)
    with start_run(args.tracking_uri, args.experiment, "evaluate", args.parent_run_id) as run:
        bar = tqdm(total=len(config.prompts) * len(config.seeds), desc="evaluate", unit="video", file=sys.stderr)
        with bar:
            result = evaluate_adapter(model, references, config, sampling, clip, on_video=lambda: bar.update())
        write_outputs(result, references, out_dir, title, args.fps)
        run.log_params({"evaluate": result.settings, "adapter": str(args.adapter), "preset": info.preset})
        run.log_metrics(mlflow_metrics(result), step=0)
        run.log_artifact(out_dir / METRICS_FILE)
        run.log_artifact(out_dir / REPORT_FILE)
        run.log_artifacts(out_dir / VIDEOS_DIR, VIDEOS_DIR)
    for name, stats in result.aggregate.items():
        print(f"{name:>30}: {stats['mean']:8.3f}  95% CI [{stats['ci95_low']:.3f}, {stats['ci95_high']:.3f}]  n={stats['n']}")
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
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.set_defaults(func=_evaluate)
