"""Component `finish-run`: the pipeline's exit handler, run whether the steps succeeded or not."""

from kfp.dsl import PipelineTaskFinalStatus

from components import component


@component
def finish_run(tracking_uri: str, experiment: str, pipeline_run_id: str, status: PipelineTaskFinalStatus) -> str:
    """Close the MLflow parent run: FINISHED, or FAILED with the failed step and its cause, after
    withdrawing what the run registered. Prints and returns one line saying what happened."""
    from motionlora.registry.pipeline_run import finish_pipeline_run

    message = finish_pipeline_run(tracking_uri, experiment, pipeline_run_id, status.state == "SUCCEEDED",
                                  status.error_message or "")
    print(message)
    return message
