"""Component `evaluate`: score the adapter against its base model; metrics, HTML report, sample videos."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components import component


@component
def evaluate(trained: Input[Model], ingested: Input[Dataset], base_model: str, recipe: str, prompts: list,
             seeds: str, clip_model: str, sampling_steps: int, tracking_uri: str, parent_run_id: str,
             evaluation: Output[Artifact], metrics: Output[Metrics], report: Output[HTML]):
    """`motionlora evaluate` into `evaluation` (metrics.json, report.html, videos/), logged to MLflow;
    the aggregate means also become KFP metrics and the report the step's HTML visualisation."""
    import json
    import shutil
    from pathlib import Path

    from motionlora.cli import build_parser
    from motionlora.evaluate.commands import METRICS_FILE, REPORT_FILE
    from motionlora.tracking.pipeline_run import pipeline_step
    from motionlora.train.loop import ADAPTER_DIR

    argv = ["evaluate", "--model", base_model, "--adapter", str(Path(trained.path) / ADAPTER_DIR),
            "--references", ingested.path, "--out", evaluation.path, "--config", recipe,
            "--set", f"prompts={json.dumps(prompts)}", "--seeds", seeds, "--clip-model", clip_model,
            "--steps", str(sampling_steps), "--tracking-uri", tracking_uri, "--parent-run-id", parent_run_id]
    with pipeline_step(tracking_uri, parent_run_id, "evaluate"):
        args = build_parser().parse_args(argv)
        args.func(args)
    out = Path(evaluation.path)
    for name, stats in json.loads((out / METRICS_FILE).read_text())["aggregate"].items():
        metrics.log_metric(name, stats["mean"])
    shutil.copyfile(out / REPORT_FILE, report.path)
