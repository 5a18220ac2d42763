"""Closing out what a killed pipeline run left behind, and breaking a dead holder's lock on purpose.

A pipeline run killed between register and its exit handler leaves its MLflow parent run RUNNING
and its version `challenger` with no failure mark. Such a version is not promotable (see
`unfinished_run`), and `repair` finds parent runs that have been RUNNING longer than any pipeline
runs and closes them as the exit handler would have: their versions withdrawn (marked FAILED,
`challenger` given back), the run marked FAILED with the cause. Every new pipeline run repairs
runs older than `STALE_AFTER_S` when it opens its own; `motionlora registry repair` does it on
demand (`--older-than 0` when you know nothing is running). The exit handler of a pipeline run
that failed withdraws its versions the same way (`withdraw_versions`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from motionlora.registry.lock import TAG_BROKEN_BY, TAG_HOLDER, TAG_TOKEN, PromotionLock
from motionlora.registry.names import TAG_PIPELINE_STATUS, is_lock_model
from motionlora.tracking import PARENT_TAG
from motionlora.tracking.errors import unless_missing
from motionlora.tracking.pipeline_run import IS_PIPELINE_RUN, TAG_FAILURE, TAG_PIPELINE_RUN, search_pipeline_runs

STALE_AFTER_S = 24 * 3600.0  # longer than any pipeline run: a RUNNING parent run older than this was killed
TAG_BROKEN_REASON = "motionlora.lock.broken_reason"


def registered_versions(client: Any, pipeline_run_id: str) -> list[Any]:
    """Every model version registered by pipeline run `pipeline_run_id`."""
    versions = client.search_model_versions(f"tags.`{TAG_PIPELINE_RUN}` = '{pipeline_run_id}'")
    return [v for v in versions if not is_lock_model(v.name)]


def withdraw_versions(client: Any, pipeline_run_id: str) -> list[str]:
    """Withdraw (`promotion.withdraw`) every version of a failed pipeline run not withdrawn yet; names them."""
    from motionlora.registry.promotion import withdraw

    withdrawn = []
    for version in registered_versions(client, pipeline_run_id):
        if version.tags.get(TAG_PIPELINE_STATUS) != "FAILED":
            withdraw(client, version.name, str(version.version))
            withdrawn.append(f"{version.name} v{version.version}")
    return withdrawn


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
    cutoff = int((now - older_than_s) * 1000)
    return search_pipeline_runs(
        client, experiment, f"{IS_PIPELINE_RUN} and attributes.status = 'RUNNING' and attributes.start_time <= {cutoff}",
        max_results=1000)


def repair(client: Any, experiment: str | None, older_than_s: float = STALE_AFTER_S, by: str = "registry repair",
           now: Callable[[], float] = time.time) -> list[str]:
    """Close out every orphaned pipeline run; one line per run saying what was done."""
    lines = []
    for run in orphaned_runs(client, experiment, older_than_s, now()):
        pipeline_run = run.data.tags.get(TAG_PIPELINE_RUN, "?")
        hours = (now() - run.info.start_time / 1000) / 3600
        withdrawn = withdraw_versions(client, pipeline_run)
        client.set_tag(run.info.run_id, TAG_FAILURE, f"never finished: still RUNNING after {hours:.1f} h, closed by {by}")
        client.set_terminated(run.info.run_id, "FAILED")
        lines.append(f"pipeline run {pipeline_run} (MLflow run {run.info.run_id}, started {hours:.1f} h ago) marked FAILED"
                     + (f"; withdrew {', '.join(withdrawn)}" if withdrawn else ""))
    return lines


def unlock(client: Any, model: str, reason: str, by: str) -> str:
    """Break `model`'s promotion lock whatever its lease, keeping it as a marker with who and why."""
    if not reason.strip():
        raise ValueError("breaking a lock needs a reason (--reason): say why its holder is gone")
    name = PromotionLock(client, model).name
    lock = unless_missing(client.get_registered_model, name)
    if lock is None:
        return f"{model} is not locked"
    tags = dict(lock.tags)
    marker = f"{name}.broken-{tags.get(TAG_TOKEN, 'unknown')}"
    client.rename_registered_model(name, marker)
    client.set_registered_model_tag(marker, TAG_BROKEN_BY, by)
    client.set_registered_model_tag(marker, TAG_BROKEN_REASON, reason)
    return f"broke the lock of {model} held by {tags.get(TAG_HOLDER, 'unknown')}; kept as {marker} with the reason"
