"""The MLflow parent run of one pipeline run: opened by the first step, closed by the exit handler.

Every step nests its own runs (train, evaluate, register) under it, so the MLflow UI shows one
pipeline run as one tree. It is found by the tag `motionlora.pipeline_run_id` (the KFP run id), not
passed around, because KFP's exit handler cannot take outputs of the steps it guards.

A step that fails records which step and why on the parent run (`pipeline_step`); the exit
handler then marks the run FAILED and withdraws what the run registered, so a failed run leaves
no trace in the registry's aliases (see `promotion.withdraw`).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from motionlora.registry.names import TAG_PIPELINE_RUN, TAG_PIPELINE_STATUS, is_lock_model
from motionlora.tracking import DEFAULT_EXPERIMENT, ensure_experiment, flatten_params, resolve_tracking_uri

TAG_KIND = "motionlora.kind"
KIND_PIPELINE = "pipeline"
TAG_FAILED_STEP = "motionlora.failed_step"
TAG_FAILURE = "motionlora.failure"
_MAX_TAG = 4000
log = logging.getLogger(__name__)


def _client(tracking_uri: str | None) -> Any:
    import mlflow

    return mlflow.MlflowClient(resolve_tracking_uri(tracking_uri))


def find_pipeline_run(client: Any, experiment: str | None, pipeline_run_id: str) -> Any | None:
    """The parent run of KFP run `pipeline_run_id`, or None."""
    found = client.get_experiment_by_name(experiment or DEFAULT_EXPERIMENT)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{TAG_PIPELINE_RUN}` = '{pipeline_run_id}'",
                              max_results=1)
    return runs[0] if runs else None


def open_pipeline_run(
    tracking_uri: str | None, experiment: str | None, pipeline_run_id: str, concept: str, params: Mapping[str, Any]
) -> str:
    """Create the parent run of `pipeline_run_id` (or return it when a retried step finds it) and log
    `params`; first close out pipeline runs that were killed long ago (`repair.repair`)."""
    from mlflow.entities import Param

    from motionlora.registry.repair import repair

    client = _client(tracking_uri)
    existing = find_pipeline_run(client, experiment, pipeline_run_id)
    if existing is not None:
        return existing.info.run_id
    for line in repair(client, experiment, by=f"pipeline run {pipeline_run_id}"):
        log.warning("%s", line)
    run = client.create_run(
        ensure_experiment(resolve_tracking_uri(tracking_uri), experiment),
        run_name=f"{concept}-pipeline-{pipeline_run_id[:12]}",
        tags={TAG_PIPELINE_RUN: pipeline_run_id, TAG_KIND: KIND_PIPELINE, "motionlora.concept": concept},
    )
    params_ = [Param(key, value) for key, value in flatten_params(params).items()]
    for start in range(0, len(params_), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=params_[start:start + 100])
    return run.info.run_id


@contextmanager
def pipeline_step(tracking_uri: str | None, parent_run_id: str, step: str) -> Iterator[None]:
    """Run a pipeline step's body; if it raises, record the step and the error on the parent run first."""
    try:
        yield
    except Exception as err:
        cause = f"{type(err).__name__}: {err}"[:_MAX_TAG]
        try:
            client = _client(tracking_uri)
            client.set_tag(parent_run_id, TAG_FAILED_STEP, step)
            client.set_tag(parent_run_id, TAG_FAILURE, cause)
        except Exception as record_err:  # the step's own error is the one to report
            err.add_note(f"(could not record the failure on MLflow run {parent_run_id}: {record_err})")
        raise


def failure_message(run: Any) -> str | None:
    """'step X failed: cause' from a parent run's tags, or None when no step recorded a failure."""
    step = run.data.tags.get(TAG_FAILED_STEP)
    return f"step {step} failed: {run.data.tags.get(TAG_FAILURE, 'no cause recorded')}" if step else None


def record_decision(client: Any, run_id: str, tags: Mapping[str, str], text: str, artifact_file: str) -> None:
    """Put a registry decision on a run: short tags to filter by, and the full report as a text artifact."""
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value)[:_MAX_TAG])
    client.log_text(run_id, text, artifact_file)


def promote_for_pipeline(tracking_uri: str | None, concept: str, gate: Any, pipeline_run_id: str,
                         parent_run_id: str) -> Any:
    """The pipeline's promote step: `promotion.promote` of the version this pipeline run registered,
    as this pipeline run, recorded on its parent run."""
    from motionlora.registry.names import model_name
    from motionlora.registry.promotion import promote

    client, name = _client(tracking_uri), model_name(concept)
    versions = [v for v in registered_versions(client, pipeline_run_id) if v.name == name]
    if len(versions) != 1:
        raise ValueError(f"pipeline run {pipeline_run_id} registered {len(versions)} versions of {name}; expected one")
    result = promote(client, name, str(versions[0].version), gate, actor=f"pipeline run {pipeline_run_id}",
                     pipeline_run=pipeline_run_id)
    record_decision(client, parent_run_id, {"motionlora.promotion": result.action,
                                            "motionlora.champion": result.after.champion or "none"},
                    result.describe(), "promotion.md")
    return result


def registered_versions(client: Any, pipeline_run_id: str) -> list[Any]:
    """Every model version registered by pipeline run `pipeline_run_id`."""
    versions = client.search_model_versions(f"tags.`{TAG_PIPELINE_RUN}` = '{pipeline_run_id}'")
    return [v for v in versions if not is_lock_model(v.name)]


def finish_pipeline_run(tracking_uri: str | None, experiment: str | None, pipeline_run_id: str, succeeded: bool,
                        error: str = "") -> str:
    """Close the parent run: FINISHED, or FAILED after withdrawing what the run registered.

    Returns one line saying what happened (the exit handler prints it).
    """
    from motionlora.registry.promotion import withdraw

    client = _client(tracking_uri)
    run = find_pipeline_run(client, experiment, pipeline_run_id)
    if run is None:
        state = "succeeded" if succeeded else f"failed ({error or 'no detail'})"
        return f"pipeline run {pipeline_run_id} {state} before it opened an MLflow run"
    run_id = run.info.run_id
    if succeeded:
        client.set_terminated(run_id, "FINISHED")
        return f"pipeline run {pipeline_run_id} succeeded; MLflow run {run_id}"
    withdrawn = []
    for version in registered_versions(client, pipeline_run_id):
        if version.tags.get(TAG_PIPELINE_STATUS) != "FAILED":
            withdraw(client, version.name, str(version.version))
            withdrawn.append(f"{version.name} v{version.version}")
    if not run.data.tags.get(TAG_FAILED_STEP):
        client.set_tag(run_id, TAG_FAILURE, (error or "a step failed")[:_MAX_TAG])
    client.set_terminated(run_id, "FAILED")
    detail = failure_message(client.get_run(run_id)) or error or "a step failed"
    undone = f"; withdrew {', '.join(withdrawn)}" if withdrawn else ""
    return f"pipeline run {pipeline_run_id} failed: {detail}{undone}; MLflow run {run_id} marked FAILED"


def latest_pipeline_run(tracking_uri: str | None, experiment: str | None, since: float) -> Any | None:
    """The newest parent run started at or after `since` (seconds since the epoch), for the local runner."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment or DEFAULT_EXPERIMENT)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`{TAG_KIND}` = '{KIND_PIPELINE}' and attributes.start_time >= {int(since * 1000)}",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return runs[0] if runs else None
