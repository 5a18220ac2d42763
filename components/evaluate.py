"""Component `evaluate`: score the adapter against its base model; metrics, HTML report, sample videos."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components import component


@component
def evaluate(trained: Input[Model], ingested: Input[Dataset], base_model: str, recipe: str, prompts: list,
             seeds: str, clip_model: str, sampling_steps: int, tracking_uri: str, parent_run_id: str,
             evaluation: Output[Artifact], metrics: Output[Metrics], report: Output[HTML]):
    """The evaluation (the recipe's `evaluate` and `sampling` sections, then these settings) into
    `evaluation` (metrics.json, report.html, videos/), logged to MLflow; the aggregate means also
    become KFP metrics and the report the step's HTML visualisation."""
    import shutil
    from pathlib import Path

    from motionlora.evaluate.job import EvaluationJob, evaluation_config, parse_seeds
    from motionlora.evaluate.job import evaluate as score_adapter
    from motionlora.evaluate.outputs import REPORT_FILE
    from motionlora.tracking import TrackingOptions
    from motionlora.tracking.pipeline_run import pipeline_step
    from motionlora.train.loop import ADAPTER_DIR

    job = EvaluationJob(base_model, str(Path(trained.path) / ADAPTER_DIR), ingested.path, evaluation.path, recipe)
    with pipeline_step(tracking_uri, parent_run_id, "evaluate"):
        config = evaluation_config(recipe, prompts=prompts, seeds=parse_seeds(seeds), clip_model=clip_model)
        run = score_adapter(job, config, {"steps": sampling_steps},
                            TrackingOptions(tracking_uri=tracking_uri, parent_run_id=parent_run_id))
    for name, stats in run.result.aggregate.items():
        metrics.log_metric(name, stats["mean"])
    shutil.copyfile(Path(evaluation.path) / REPORT_FILE, report.path)
