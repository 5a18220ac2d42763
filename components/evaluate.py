"""Component `evaluate`: score the adapter against its base model; metrics, HTML report, sample videos."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components import component


@component
def evaluate(trained: Input[Model], ingested: Input[Dataset], base_model: str, recipe: str, prompts: list,
             seeds: str, clip_model: str, sampling_steps: int, tracking_uri: str, experiment: str, content_key: str,
             evaluation: Output[Artifact], metrics: Output[Metrics], report: Output[HTML]):
    """The evaluation (the recipe's `evaluate` and `sampling` sections, then these settings) into
    `evaluation` (metrics.json, report.html, videos/), logged to MLflow; the aggregate means also
    become KFP metrics (and the `metrics` file) and the report the step's HTML visualisation."""
    import json
    import shutil
    from pathlib import Path

    from motionlora.evaluate.job import EvaluationJob, evaluation_config, parse_seeds
    from motionlora.evaluate.job import evaluate as score_adapter
    from motionlora.evaluate.outputs import REPORT_FILE
    from motionlora.tracking import TrackingOptions
    from motionlora.tracking.pipeline_run import content_step
    from motionlora.train.outputs import ADAPTER_DIR

    job = EvaluationJob(base_model, str(Path(trained.path) / ADAPTER_DIR), ingested.path, evaluation.path, recipe)
    with content_step(tracking_uri, experiment, content_key, "evaluate") as parent_run_id:
        config = evaluation_config(recipe, prompts=prompts, seeds=parse_seeds(seeds), clip_model=clip_model)
        run = score_adapter(job, config, {"steps": sampling_steps},
                            TrackingOptions(tracking_uri=tracking_uri, experiment=experiment,
                                            parent_run_id=parent_run_id))
    for name, stats in run.result.aggregate.items():
        metrics.log_metric(name, stats["mean"])
    # The means as a file too: a cache (kfp.local's) treats an output artifact without a file as gone.
    Path(metrics.path).write_text(json.dumps(metrics.metadata, indent=1) + "\n")
    shutil.copyfile(Path(evaluation.path) / REPORT_FILE, report.path)
