"""Component `start-run`: open the MLflow parent run that every later step nests its runs under."""

from components import component


@component
def start_run(tracking_uri: str, experiment: str, pipeline_run_id: str, concept: str, parameters: dict) -> str:
    """Create (or, on a retry, find) the parent run of this pipeline run; returns its MLflow run id."""
    from motionlora.registry.pipeline_run import open_pipeline_run

    return open_pipeline_run(tracking_uri, experiment, pipeline_run_id, concept, parameters)
