"""Component `start-run`: open the MLflow parent run that every later step nests its runs under."""

from typing import NamedTuple

from components import component


@component
def start_run(tracking_uri: str, experiment: str, pipeline_run_id: str, concept: str, work: dict,
              eval_prompts: list, gate: dict) -> NamedTuple("Started", parent_run_id=str, content_key=str):
    """Create (or, on a retry, find) the parent run of this pipeline run with the settings of ingest,
    preprocess, train and evaluate (`work`, and `eval_prompts`: a list inside a dict parameter does
    not survive KFP's placeholders) and the `gate` (as `gate.*`) logged as its params; returns its
    MLflow run id and the content key of those settings, which the reusable steps take."""
    from collections import namedtuple

    from motionlora.registry.pipeline_run import key_pipeline_run, open_pipeline_run

    work = {**work, "eval_prompts": eval_prompts}
    parent = open_pipeline_run(tracking_uri, experiment, pipeline_run_id, concept, {**work, "gate": gate})
    key = key_pipeline_run(tracking_uri, parent, {"concept": concept, **work})
    return namedtuple("Started", ["parent_run_id", "content_key"])(parent, key)
