"""The MLflow parent run of one pipeline run: opened by the first step, closed by the exit handler.

Every step nests its own runs (train, evaluate, register) under it, so the MLflow UI shows one
pipeline run as one tree. It is found by the tag `motionlora.pipeline_run_id` (the KFP run id), not
passed around, because KFP's exit handler cannot take outputs of the steps it guards.

The steps KFP may reuse from an earlier run (ingest, preprocess, train, evaluate) cannot take the
parent run's id, new in every run, as an input: that would make every run's inputs new. They take
the run's content key instead (`motionlora.content_key`), which the first step tags the parent run
with, and find the parent as the newest RUNNING pipeline run carrying it (`content_step`). A reused
step does not run at all, so its runs stay under the pipeline run that made them; the register step
records on the new parent run where the reused training came from (`record_reuse`).

A step that fails records which step and why on the parent run (`pipeline_step`), which the exit
handler keeps when it marks the run FAILED (`fail_pipeline_run`). What a pipeline run means to the
registry (a failed run's versions withdrawn, the promote step) is `registry.pipeline_run`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from motionlora.tracking.records import log_params, set_tags
from motionlora.tracking.runs import (
    DEFAULT_EXPERIMENT,
    PARENT_TAG,
    ensure_experiment,
    resolve_tracking_uri,
    tracking_client,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

# The KFP run id, on the parent run and on every model version the pipeline run registers.
TAG_PIPELINE_RUN = "motionlora.pipeline_run_id"
TAG_KIND = "motionlora.kind"
KIND_PIPELINE = "pipeline"
TAG_CONTENT_KEY = "motionlora.content_key"
TAG_REUSED_FROM = "motionlora.reused_from"
TAG_FAILED_STEP = "motionlora.failed_step"
TAG_FAILURE = "motionlora.failure"
IS_PIPELINE_RUN = f"tags.`{TAG_KIND}` = '{KIND_PIPELINE}'"  # a filter selecting every parent run


def search_pipeline_runs(client: MlflowClient, experiment: str | None, filter_string: str, **options: Any) -> list[Run]:
    """The runs in `experiment` (default: motionlora) that `filter_string` selects (parent runs by
    `IS_PIPELINE_RUN` or `TAG_PIPELINE_RUN`), with `search_runs`' other `options`; none when the
    experiment does not exist yet."""
    found = client.get_experiment_by_name(experiment or DEFAULT_EXPERIMENT)
    if found is None:
        return []
    return client.search_runs([found.experiment_id], filter_string=filter_string, **options)


def find_pipeline_run(client: MlflowClient, experiment: str | None, pipeline_run_id: str) -> Run | None:
    """The parent run of KFP run `pipeline_run_id`, or None."""
    runs = search_pipeline_runs(client, experiment, f"tags.`{TAG_PIPELINE_RUN}` = '{pipeline_run_id}'", max_results=1)
    return runs[0] if runs else None


def find_running_pipeline_run(client: MlflowClient, experiment: str | None, content_key: str) -> Run | None:
    """The newest RUNNING parent run tagged with `content_key`, or None. (Two runs of the same content
    at once both find the newer: each step then nests under that one, which only moves a child run
    between two pipeline runs of the same inputs.)"""
    runs = search_pipeline_runs(client, experiment, f"{IS_PIPELINE_RUN} and tags.`{TAG_CONTENT_KEY}` = '{content_key}' "
                                "and attributes.status = 'RUNNING'", order_by=["attributes.start_time DESC"],
                                max_results=1)
    return runs[0] if runs else None


def create_pipeline_run(tracking_uri: str | None, experiment: str | None, pipeline_run_id: str, concept: str,
                        params: Mapping[str, Any]) -> str:
    """Create the parent run of `pipeline_run_id` with `params` logged; returns its run id."""
    client = tracking_client(tracking_uri)
    run = client.create_run(
        ensure_experiment(resolve_tracking_uri(tracking_uri), experiment),
        run_name=f"{concept}-pipeline-{pipeline_run_id[:12]}",
        tags={TAG_PIPELINE_RUN: pipeline_run_id, TAG_KIND: KIND_PIPELINE, "motionlora.concept": concept},
    )
    log_params(client, run.info.run_id, params)
    return run.info.run_id


@contextmanager
def pipeline_step(tracking_uri: str | None, parent_run_id: str, step: str) -> Iterator[None]:
    """Run a pipeline step's body; if it raises, record the step and the error on the parent run first."""
    try:
        yield
    except Exception as err:  # whatever made the step fail is what the parent run must say
        try:
            set_tags(tracking_client(tracking_uri), parent_run_id,
                     {TAG_FAILED_STEP: step, TAG_FAILURE: f"{type(err).__name__}: {err}"})
        except Exception as record_err:  # never let recording hide the step's own error, which is the one to report
            err.add_note(f"(could not record the failure on MLflow run {parent_run_id}: {record_err})")
        raise


@contextmanager
def content_step(tracking_uri: str | None, experiment: str | None, content_key: str, step: str) -> Iterator[str | None]:
    """`pipeline_step` for a step KFP may reuse: yields the id of the parent run found by
    `content_key` (None when there is none, e.g. the step run on its own), to nest the step's runs under."""
    run = find_running_pipeline_run(tracking_client(tracking_uri), experiment, content_key)
    if run is None:
        yield None
        return
    with pipeline_step(tracking_uri, run.info.run_id, step):
        yield run.info.run_id


def record_reuse(client: MlflowClient, parent_run_id: str, train_run_id: str | None) -> None:
    """When the adapter was trained under another pipeline run (KFP reused the steps that made it),
    tag `parent_run_id` with that pipeline run's KFP id (`TAG_REUSED_FROM`)."""
    trained_under = client.get_run(train_run_id).data.tags.get(PARENT_TAG) if train_run_id else None
    if trained_under in (None, parent_run_id):
        return
    origin = client.get_run(trained_under).data.tags.get(TAG_PIPELINE_RUN, trained_under)
    set_tags(client, parent_run_id, {TAG_REUSED_FROM: origin})


def failure_message(run: Run) -> str | None:
    """'step X failed: cause' from a parent run's tags, or None when no step recorded a failure."""
    step = run.data.tags.get(TAG_FAILED_STEP)
    return f"step {step} failed: {run.data.tags.get(TAG_FAILURE, 'no cause recorded')}" if step else None


def fail_pipeline_run(client: MlflowClient, run: Run, error: str) -> str:
    """Mark the parent run FAILED, with `error` as the cause unless a step recorded its own; returns
    the failure as one line."""
    run_id = run.info.run_id
    if not run.data.tags.get(TAG_FAILED_STEP):
        set_tags(client, run_id, {TAG_FAILURE: error or "a step failed"})
    client.set_terminated(run_id, "FAILED")
    return failure_message(client.get_run(run_id)) or error or "a step failed"


def latest_pipeline_run(tracking_uri: str | None, experiment: str | None, since: float) -> Run | None:
    """The newest parent run started at or after `since` (seconds since the epoch), for the local runner."""
    runs = search_pipeline_runs(tracking_client(tracking_uri), experiment,
                                f"{IS_PIPELINE_RUN} and attributes.start_time >= {int(since * 1000)}",
                                order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None
