"""The evaluation step as one call, `evaluate(job, config, sampling)`: what `motionlora evaluate` and
the pipeline's evaluate step both run. It loads the base model with the adapter, scores it against
the base model (`run.evaluate_adapter`), writes metrics.json, report.html and the videos into the
job's out folder, and records them in an MLflow run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from motionlora.config import load_config
from motionlora.data.decode import decode_clip
from motionlora.data.manifest import read_manifest
from motionlora.data.video import write_video
from motionlora.evaluate.clip import load_clip
from motionlora.evaluate.outputs import METRICS_FILE, REPORT_FILE, VIDEOS_DIR
from motionlora.evaluate.report import title_sentence, write_report
from motionlora.evaluate.run import EvaluationConfig, EvaluationResult, evaluate_adapter
from motionlora.sampling import sampling_config
from motionlora.models.loading import load_t2v_model, pick_device
from motionlora.motion.adapter import load_motion_adapter
from motionlora.tracking import TrackingOptions, open_run
from motionlora.tracking.adapters import resolve_adapter


@dataclass(frozen=True)
class EvaluationJob:
    """What to evaluate against what, and where the outputs go.

    model: the base model (folder, hub id, s3:// or gs:// URL); adapter: the motion adapter (folder,
    models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/adapter); references: the ingest output
    folder (manifest.jsonl) of the reference clips; out: the folder for metrics.json, report.html
    and videos/; recipe: the YAML recipe whose `sampling` section sets the sampling defaults;
    fps: frame rate of the written gifs; device: where to sample (None: cuda when available, else cpu).
    """

    model: str
    adapter: str
    references: str | Path
    out: str | Path
    recipe: str | Path | None = None
    fps: float = 8.0
    device: str | None = None


@dataclass(frozen=True)
class EvaluationRun:
    """The scores (as in metrics.json) and the MLflow run that holds them."""

    result: EvaluationResult
    run_id: str


def parse_seeds(text: str) -> tuple[int, ...]:
    """Comma-separated seeds (`0,1,2`), the form of `--seeds` and of the pipeline's `eval_seeds`."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"seeds must be comma-separated integers like 0,1,2, got {text!r}") from None


def evaluation_config(recipe: str | Path | None = None, overrides: Sequence[str] = (), **settings: Any) -> EvaluationConfig:
    """The evaluation settings, in one order: built-in defaults < the `evaluate` section of `recipe`
    with `overrides` (`key=value`) < `settings` (a command's flags, a step's parameters)."""
    return load_config(EvaluationConfig, recipe, "evaluate", overrides, settings)


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


def evaluate(job: EvaluationJob, config: EvaluationConfig, sampling: Mapping[str, Any] | None = None,
             tracking: TrackingOptions = TrackingOptions()) -> EvaluationRun:
    """Score `job`'s adapter against its base model with `config`, write the outputs and record them
    as `tracking` says (a run named `evaluate` unless it names one). `sampling`: settings of
    `sampling.SamplingConfig` over the recipe's and the adapter's (see `sampling_config`)."""
    from tqdm import tqdm

    device = pick_device(job.device)
    adapter = resolve_adapter(job.adapter, tracking.tracking_uri)
    model = load_t2v_model(job.model, device=device)
    info = load_motion_adapter(model.unet, adapter, model.identity)
    settings = sampling_config(job.recipe, (), info, **(sampling or {}))
    references = read_references(job.references)
    clip = load_clip(config.clip_model, device=device)
    out_dir = Path(job.out)
    concept = reference_concept(job.references) or Path(job.adapter).name
    title = title_sentence(concept, info.preset, settings.highway, settings.beta)
    with open_run(tracking, "evaluate") as run:
        with tqdm(total=len(config.prompts) * len(config.seeds), desc="evaluate", unit="video", file=sys.stderr) as bar:
            result = evaluate_adapter(model, references, config, settings, clip, on_video=lambda: bar.update())
        write_outputs(result, references, out_dir, title, job.fps)
        run.log_params({"evaluate": result.settings, "adapter": str(job.adapter), "preset": info.preset})
        run.log_metrics(mlflow_metrics(result), step=0)
        run.log_artifact(out_dir / METRICS_FILE)
        run.log_artifact(out_dir / REPORT_FILE)
        run.log_artifacts(out_dir / VIDEOS_DIR, VIDEOS_DIR)
    return EvaluationRun(result, run.run_id)
