"""What the pipeline's steps record on runs through a client: params and metrics in batches, tags,
a decision (short tags plus the full report) and the dataset a model was trained on.

Through the client rather than the fluent API (`runs.TrackedRun`) because these writes go to runs
other than the active one as well: the pipeline's parent run above all.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping

from motionlora.tracking.runs import flatten_params

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput

MAX_TAG = 4000  # characters of a tag value kept; a whole report goes into an artifact instead
_MAX_PARAMS_PER_BATCH = 100  # what MLflow's log_batch takes at most


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Log `params` flattened (`flatten_params`), as many batches as MLflow needs."""
    from mlflow.entities import Param

    entries = [Param(key, value) for key, value in flatten_params(params).items()]
    for start in range(0, len(entries), _MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=entries[start:start + _MAX_PARAMS_PER_BATCH])


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], model_id: str | None = None) -> None:
    """Log `metrics` in one batch, at step 0 and this moment; `model_id` also files them under that logged model."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(key, value, now, 0, model_id=model_id) for key, value in metrics.items()])


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set each tag on the run, its value as text cut to `MAX_TAG` characters."""
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value)[:MAX_TAG])


def record_decision(client: MlflowClient, run_id: str, tags: Mapping[str, str], text: str, artifact_file: str) -> None:
    """Put a registry decision on a run: short tags to filter by, and the full report as a text artifact."""
    set_tags(client, run_id, tags)
    client.log_text(run_id, text, artifact_file)


def training_dataset(source: str, name: str, digest: str, tags: Mapping[str, str]) -> DatasetInput:
    """A dataset as a run's training input (so the run lists what it was trained on): where it came
    from (a path or URI; text when MLflow has no resolver for its scheme), its name and content
    digest, and `tags` after the `training` context tag."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    from motionlora.tracking.errors import MlflowException

    try:
        resolved = resolve_dataset_source(source)
    except MlflowException:  # a scheme MLflow has no resolver for
        resolved = CodeDatasetSource({"source": source})
    dataset = MetaDataset(resolved, name=name, digest=digest)
    entries = [InputTag("mlflow.data.context", "training"), *(InputTag(key, value) for key, value in tags.items())]
    return DatasetInput(dataset._to_mlflow_entity(), tags=entries)
