"""What a pipeline run means to the registry, around its MLflow parent run (`tracking.pipeline_run`).

Opening a pipeline run first closes out pipeline runs that were killed long ago (`repair.repair`);
its promote step promotes the one version it registered; and the exit handler, when a step failed,
withdraws what the run registered before marking its parent run FAILED, so a failed run leaves no
trace in the registry's aliases (see `promotion.withdraw`).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from motionlora.registry.gate import GateConfig
from motionlora.registry.names import model_name
from motionlora.registry.promotion import PromotionResult, promote
from motionlora.registry.repair import registered_versions, repair, withdraw_versions
from motionlora.tracking import tracking_client
from motionlora.tracking.pipeline_run import (
    TAG_CONTENT_KEY,
    create_pipeline_run,
    fail_pipeline_run,
    find_pipeline_run,
    pipeline_step,
)
from motionlora.tracking.records import record_decision, set_tags

log = logging.getLogger(__name__)


def open_pipeline_run(
    tracking_uri: str | None, experiment: str | None, pipeline_run_id: str, concept: str, params: Mapping[str, Any]
) -> str:
    """Create the parent run of `pipeline_run_id` (or return it when a retried step finds it) and log
    `params`; first close out pipeline runs that were killed long ago (`repair.repair`)."""
    client = tracking_client(tracking_uri)
    existing = find_pipeline_run(client, experiment, pipeline_run_id)
    if existing is not None:
        return existing.info.run_id
    for line in repair(client, experiment, by=f"pipeline run {pipeline_run_id}"):
        log.warning("%s", line)
    return create_pipeline_run(tracking_uri, experiment, pipeline_run_id, concept, params)


# The pipeline's settings that name a file or folder whose content the steps read.
REFERENCES = ("base_model", "recipe", "clip_model")


def key_pipeline_run(tracking_uri: str | None, parent_run_id: str, work: Mapping[str, Any]) -> str:
    """The content key of the work settings `work` (the pipeline's parameters that ingest, preprocess,
    train and evaluate take: the clips' `source`, `dvc_repo` and `dvc_rev` read as ingest reads them,
    each of `REFERENCES` by content, the rest as they are), tagged on the parent run, where the steps
    KFP may reuse find their parent by it (`tracking.pipeline_run.content_step`). A source or
    reference that does not exist fails here, recorded as the start-run step's failure."""
    from motionlora.content_key import content_key
    from motionlora.data.sources import open_pipeline_source

    with pipeline_step(tracking_uri, parent_run_id, "start-run"):
        source = open_pipeline_source(work["source"], work["dvc_repo"] or None, work["dvc_rev"] or None)
        key = content_key(source, {name: work[name] for name in REFERENCES}, work)
        set_tags(tracking_client(tracking_uri), parent_run_id, {TAG_CONTENT_KEY: key})
    return key


def promote_for_pipeline(tracking_uri: str | None, concept: str, gate: GateConfig, pipeline_run_id: str,
                         parent_run_id: str) -> PromotionResult:
    """The pipeline's promote step: `promotion.promote` of the version this pipeline run registered,
    as this pipeline run, recorded on its parent run."""
    client, name = tracking_client(tracking_uri), model_name(concept)
    versions = [v for v in registered_versions(client, pipeline_run_id) if v.name == name]
    if len(versions) != 1:
        raise ValueError(f"pipeline run {pipeline_run_id} registered {len(versions)} versions of {name}; expected one")
    result = promote(client, name, str(versions[0].version), gate, actor=f"pipeline run {pipeline_run_id}",
                     pipeline_run=pipeline_run_id)
    record_decision(client, parent_run_id, {"motionlora.promotion": result.action,
                                            "motionlora.champion": result.after.champion or "none"},
                    result.describe(), "promotion.md")
    return result


def finish_pipeline_run(tracking_uri: str | None, experiment: str | None, pipeline_run_id: str, succeeded: bool,
                        error: str = "") -> str:
    """Close the parent run: FINISHED, or FAILED after withdrawing what the run registered.

    Returns one line saying what happened (the exit handler prints it).
    """
    client = tracking_client(tracking_uri)
    run = find_pipeline_run(client, experiment, pipeline_run_id)
    if run is None:
        state = "succeeded" if succeeded else f"failed ({error or 'no detail'})"
        return f"pipeline run {pipeline_run_id} {state} before it opened an MLflow run"
    run_id = run.info.run_id
    if succeeded:
        client.set_terminated(run_id, "FINISHED")
        return f"pipeline run {pipeline_run_id} succeeded; MLflow run {run_id}"
    withdrawn = withdraw_versions(client, pipeline_run_id)
    detail = fail_pipeline_run(client, run, error)
    undone = f"; withdrew {', '.join(withdrawn)}" if withdrawn else ""
    return f"pipeline run {pipeline_run_id} failed: {detail}{undone}; MLflow run {run_id} marked FAILED"
