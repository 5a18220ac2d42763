"""The MLflow layer of train, evaluate and the registry: runs, nesting and what they record."""

from motionlora.tracking.runs import (
    DEFAULT_EXPERIMENT,
    DEFAULT_TRACKING_URI,
    PARENT_TAG,
    NullRun,
    TrackedRun,
    default_artifact_location,
    ensure_experiment,
    flatten_params,
    git_commit,
    resolve_tracking_uri,
    start_run,
)

__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_TRACKING_URI", "PARENT_TAG", "NullRun", "TrackedRun", "default_artifact_location",
           "ensure_experiment", "flatten_params",
           "git_commit", "resolve_tracking_uri", "start_run"]
