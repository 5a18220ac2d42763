"""MLflow runs: where to track, a run (nested under a parent when asked), and what to record.

Used by train, evaluate and the registry alike, and light on purpose (no torch import) so the
pipeline's bookkeeping steps start fast. Callers that
must not track (ranks other than 0, `--no-tracking`) get a `NullRun` with the same methods, so the
training loop never branches on whether it is tracked.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "motionlora"
PARENT_TAG = "mlflow.parentRunId"
_MAX_PARAM_LENGTH = 6000


def resolve_tracking_uri(uri: str | None = None) -> str:
    """`uri` if given, else `MLFLOW_TRACKING_URI`, else a local SQLite store (`sqlite:///mlflow.db`)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def tracking_client(tracking_uri: str | None = None) -> MlflowClient:
    """A client of the store `resolve_tracking_uri(tracking_uri)` names, for runs other than the
    active one and for the model registry (the same store, unless MLFLOW_REGISTRY_URI says otherwise)."""
    import mlflow

    return mlflow.MlflowClient(resolve_tracking_uri(tracking_uri))


def default_artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a local SQLite store, in
    `mlartifacts/<experiment>/` next to the database file (where `mlflow ui` run there finds them),
    instead of MLflow's default `./mlruns` under whatever folder the process happened to start in.
    None for a tracking server, which decides itself."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
    return (database.parent / "mlartifacts" / experiment).as_uri()


def ensure_experiment(tracking_uri: str, name: str | None = None, artifact_location: str | None = None) -> str:
    """The id of experiment `name` (default: motionlora), created if missing with `artifact_location`
    (default: `default_artifact_location`); safe when another process creates it at the same time."""
    from motionlora.tracking.errors import MlflowException, already_exists

    client = tracking_client(tracking_uri)
    name = name or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location or default_artifact_location(tracking_uri, name))
    except MlflowException as err:
        if not already_exists(err):
            raise
        return client.get_experiment_by_name(name).experiment_id


def flatten_params(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping → {"a.b": "value"} with MLflow-sized string values (lists joined by ' | ').

    A whole-number float is shown as an integer: a KFP dict parameter reaches its step through a
    protobuf Struct, where every number is a float, and `height 32.0` reads like a bug."""
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = " | ".join(_shown(v) for v in value)[:_MAX_PARAM_LENGTH]
        else:
            flat[name] = _shown(value)[:_MAX_PARAM_LENGTH]
    return flat


def _shown(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit checked out where `path` (default: this package's source) lives, or None outside git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@dataclass(frozen=True)
class TrackingOptions:
    """Where a step's run is recorded: the tracking server, the experiment, the parent run it nests
    under and its name. `enabled=False` records nothing (tests, smoke runs)."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    run_name: str | None = None


class NullRun:
    """Stands in for a tracked run where nothing may be logged."""

    run_id: str | None = None
    tracking_uri: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Nothing to do."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Nothing to do."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Nothing to do."""

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        """Nothing to do."""


class TrackedRun(NullRun):
    """The active MLflow run, through the fluent API (which the system-metrics monitor also uses)."""

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        self.run_id, self.tracking_uri = run_id, tracking_uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flattened `params`, skipping keys the run already holds (a resumed run keeps its first values)."""
        import mlflow

        existing = mlflow.get_run(self.run_id).data.params
        fresh = {k: v for k, v in flatten_params(params).items() if k not in existing}
        if fresh:
            mlflow.log_params(fresh)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path)

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifacts(str(folder), artifact_path)


@contextmanager
def start_run(
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    log_system_metrics: bool | None = None,
) -> Iterator[TrackedRun]:
    """Open an MLflow run for the block; it ends FINISHED, or FAILED when the block raises.

    `run_id` re-opens an existing run (a resumed training job keeps one loss curve). A new run under
    `parent_run_id` is nested through the `mlflow.parentRunId` tag, which works whatever state the
    parent is in, and goes into the parent's experiment unless `experiment` names another.
    System metrics (CPU, memory, GPU where available) are sampled when `log_system_metrics`, by
    default wherever psutil (which MLflow samples them with) is installed.
    """
    import mlflow

    from motionlora.tracking.errors import MlflowException

    if log_system_metrics is None:
        log_system_metrics = importlib.util.find_spec("psutil") is not None
    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    client = tracking_client(uri)
    run_tags = dict(tags or {})
    experiment_id = None
    if run_id is None:
        if parent_run_id is not None:
            try:
                parent = client.get_run(parent_run_id)
            except MlflowException as err:
                raise ValueError(f"parent run {parent_run_id!r} not found at {uri}: {err.message}") from err
            run_tags[PARENT_TAG] = parent_run_id
            experiment_id = parent.info.experiment_id
        if experiment is not None or experiment_id is None:
            experiment_id = ensure_experiment(uri, experiment)
    with mlflow.start_run(
        run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=run_tags or None,
        log_system_metrics=log_system_metrics,
    ) as run:
        yield TrackedRun(run.info.run_id, uri)


def open_run(tracking: TrackingOptions, default_name: str) -> Any:
    """`start_run` as `tracking` asks (named `default_name` unless it names the run), or a `NullRun`
    block when tracking is off."""
    if not tracking.enabled:
        return nullcontext(NullRun())
    return start_run(tracking.tracking_uri, tracking.experiment, tracking.run_name or default_name, tracking.parent_run_id)
