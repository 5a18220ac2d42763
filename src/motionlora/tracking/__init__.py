"""The MLflow layer of train, evaluate and the registry: runs, nesting and what they record.
In motionlora, only the pyfunc model (`registry.model`) imports MLflow outside this package.

Modules: `runs` (where to track, a client, a run and its nesting), `records` (params, metrics, tags,
decisions and datasets written through a client), `pipeline_run` (the pipeline's parent run),
`errors` (what an MLflow error means), `adapters` (adapters named by MLflow URIs).

Importing it bounds how long an unreachable tracking server can hold a command: MLflow's defaults
(7 retries with exponential backoff, 120 s per request) wait over 4 minutes before failing; ours
(2 retries, backoff factor 1, 8 s per request) fail in under 30 s. Set the MLFLOW_HTTP_REQUEST_*
variables to choose otherwise.
"""

import os

for _name, _value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                      ("MLFLOW_HTTP_REQUEST_TIMEOUT", "8")):
    os.environ.setdefault(_name, _value)

from motionlora.tracking.runs import (
    DEFAULT_EXPERIMENT,
    DEFAULT_TRACKING_URI,
    PARENT_TAG,
    NullRun,
    TrackedRun,
    TrackingOptions,
    default_artifact_location,
    ensure_experiment,
    flatten_params,
    git_commit,
    open_run,
    resolve_tracking_uri,
    start_run,
    tracking_client,
)

__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_TRACKING_URI", "PARENT_TAG", "NullRun", "TrackedRun", "TrackingOptions",
           "default_artifact_location", "ensure_experiment", "flatten_params", "git_commit", "open_run",
           "resolve_tracking_uri", "start_run", "tracking_client"]
