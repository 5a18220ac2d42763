"""Closing out what a killed pipeline run left behind, and breaking a dead holder's lock on purpose.

A pipeline run killed between register and its exit handler leaves its MLflow parent run RUNNING
and its version `challenger` with no failure mark. Such a version is not promotable (see
`unfinished_run`), and `repair` finds parent runs that have been RUNNING longer than any pipeline
runs and closes them as the exit handler would have: their versions withdrawn (marked FAILED,
`challenger` given back), the run marked FAILED with the cause. Every new pipeline run repairs
runs older than `STALE_AFTER_S` when it opens its own; `motionlora registry repair` does it on
demand (`--older-than 0` when you know nothing is running).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from motionlora.registry.lock import TAG_BROKEN_BY, TAG_HOLDER, TAG_TOKEN, PromotionLock
from motionlora.registry.names import TAG_PIPELINE_RUN, TAG_PIPELINE_STATUS
from motionlora.registry.pipeline_run import KIND_PIPELINE, TAG_FAILURE, TAG_KIND, registered_versions
from motionlora.tracking import DEFAULT_EXPERIMENT, PARENT_TAG
from motionlora.tracking.errors import does_not_exist

STALE_AFTER_S = 24 * 3600.0  # longer than any pipeline run: a RUNNING parent run older than this was killed
TAG_BROKEN_REASON = "motionlora.lock.broken_reason"


def unfinished_run(client: Any, version: Any) -> str | None:
    """The KFP run id of the pipeline run that registered `version`, when its parent run is still RUNNING."""
    pipeline_run = version.tags.get(TAG_PIPELINE_RUN)
    if not pipeline_run or not version.run_id:
        return None
    parent_id = client.get_run(version.run_id).data.tags.get(PARENT_TAG)
    if parent_id and client.get_run(parent_id).info.status == "RUNNING":
        return pipeline_run
    return None


def orphaned_runs(client: Any, experiment: str | None, older_than_s: float, now: float) -> list[Any]:
    """Pipeline parent runs RUNNING and started more than `older_than_s` ago."""
    found = client.get_experiment_by_name(experiment or DEFAULT_EXPERIMENT)
    if found is None:
        return []
    cutoff = int((now - older_than_s) * 1000)
    return client.search_runs([found.experiment_id], max_results=1000,
                              filter_string=f"tags.`{TAG_KIND}` = '{KIND_PIPELINE}' and attributes.status = 'RUNNING' "
                                            f"and attributes.start_time <= {cutoff}")


def repair(client: Any, experiment: str | None, older_than_s: float = STALE_AFTER_S, by: str = "registry repair",
           now: Callable[[], float] = time.time) -> list[str]:
    """Close out every orphaned pipeline run; one line per run saying what was done."""
    from motionlora.registry.promotion import withdraw

    lines = []
    for run in orphaned_runs(client, experiment, older_than_s, now()):
        pipeline_run = run.data.tags.get(TAG_PIPELINE_RUN, "?")
        hours = (now() - run.info.start_time / 1000) / 3600
        withdrawn = []
        for version in registered_versions(client, pipeline_run):
            if version.tags.get(TAG_PIPELINE_STATUS) != "FAILED":
                withdraw(client, version.name, str(version.version))
                withdrawn.append(f"{version.name} v{version.version}")
        client.set_tag(run.info.run_id, TAG_FAILURE, f"never finished: still RUNNING after {hours:.1f} h, closed by {by}")
        client.set_terminated(run.info.run_id, "FAILED")
        lines.append(f"pipeline run {pipeline_run} (MLflow run {run.info.run_id}, started {hours:.1f} h ago) marked FAILED"
                     + (f"; withdrew {', '.join(withdrawn)}" if withdrawn else ""))
    return lines


def unlock(client: Any, model: str, reason: str, by: str) -> str:
    """Break `model`'s promotion lock whatever its lease, keeping it as a marker with who and why."""
    from mlflow.exceptions import MlflowException

    if not reason.strip():
        raise ValueError("breaking a lock needs a reason (--reason): say why its holder is gone")
    name = PromotionLock(client, model).name
    try:
        tags = dict(client.get_registered_model(name).tags)
    except MlflowException as err:
        if does_not_exist(err):
            return f"{model} is not locked"
        raise
    marker = f"{name}.broken-{tags.get(TAG_TOKEN, 'unknown')}"
    client.rename_registered_model(name, marker)
    client.set_registered_model_tag(marker, TAG_BROKEN_BY, by)
    client.set_registered_model_tag(marker, TAG_BROKEN_REASON, reason)
    return f"broke the lock of {model} held by {tags.get(TAG_HOLDER, 'unknown')}; kept as {marker} with the reason"
