"""Register a trained, evaluated adapter as the next version of `motion-<concept>`.

One call does what the pipeline's register step needs: log the adapter as an MLflow model (in a
`register` run nested under the pipeline's parent run), create the version with its provenance and
evaluation means, the gated metrics' 95% CIs and per-pair scores as tags, point `challenger` at it, and gate it against the current champion. The
gate's answer decides whether the pipeline tries `promote`, which gates again under the lock.

If anything after creating the version fails, the version is deleted again: a registration is
all or nothing. An adapter whose weights hold a NaN or infinity is refused before MLflow is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from motionlora.data.provenance import clips_provenance
from motionlora.evaluate.outputs import METRICS_FILE
from motionlora.registry.gate import CI_METRICS, PAIR_METRIC, GateConfig, GateDecision
from motionlora.registry.names import (
    TAG_BASE_MODEL,
    TAG_BASE_WEIGHTS,
    TAG_CI_PREFIX,
    TAG_CONCEPT,
    TAG_DATASET_COMMIT,
    TAG_DATASET_HASH,
    TAG_DATASET_REV,
    TAG_GIT_COMMIT,
    TAG_HIGHWAY,
    TAG_METRIC_PREFIX,
    TAG_PAIR_CONTEXT,
    TAG_PAIRS,
    TAG_PIPELINE_RUN,
    TAG_PRESET,
    TAG_TRAIN_RUN,
    model_name,
)
from motionlora.registry.promotion import AliasState, assess, set_challenger
from motionlora.tracking import tracking_client
from motionlora.tracking.errors import MlflowException, already_exists
from motionlora.tracking.pipeline_run import record_reuse
from motionlora.tracking.records import log_metrics, record_decision, training_dataset

# What the MLflow runs list shows for each pipeline run (its parent run), to compare runs at a glance.
HEADLINE_METRICS = ("motion_gain", "text_alignment_delta", "appearance_leakage", "judge_motion_correct")


@dataclass(frozen=True)
class Registration:
    """The new version, its gate decision against the champion of the moment, and the aliases after."""

    model: str
    version: str
    model_uri: str
    decision: GateDecision
    aliases: AliasState

    def describe(self) -> str:
        """Markdown for the pipeline's decision artifact and the parent run."""
        lines = [f"# {self.model} v{self.version} registered as challenger", "",
                 f"- model: {self.model_uri}", f"- aliases: {self.aliases.describe()}", "",
                 f"Gate against the current champion: {self.decision.verdict}", *(f"- {r}" for r in self.decision.reasons)]
        return "\n".join(lines) + "\n"


def read_evaluation(evaluation_dir: str | Path) -> dict[str, Any]:
    """`motionlora evaluate`'s metrics.json (settings, aggregate, per_video)."""
    path = Path(evaluation_dir) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `motionlora evaluate --out {evaluation_dir}` first")
    data = json.loads(path.read_text())
    aggregate = data.get("aggregate")
    if not isinstance(aggregate, dict) or not aggregate:
        raise ValueError(f"{path}: no aggregate metrics")
    return data


def evaluation_means(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """The aggregate means of an evaluation (the version's `motionlora.metric.*` tags)."""
    return {name: float(stats["mean"]) for name, stats in evaluation["aggregate"].items()}


def headline_metrics(evaluation: Mapping[str, Any], passed: bool) -> dict[str, float]:
    """The evaluation's headline numbers (mean and lower 95% bound) and the gate verdict as 1/0."""
    aggregate = evaluation["aggregate"]
    metrics = {"gate_passed": float(passed)}
    for name in HEADLINE_METRICS:
        if name in aggregate:
            metrics[f"{name}_mean"] = float(aggregate[name]["mean"])
            metrics[f"{name}_ci95_low"] = float(aggregate[name]["ci95_low"])
    return metrics


def pair_key(prompt: str, seed: int) -> str:
    """How a prompt × seed pair is named across versions: the same text and seed is the same pair."""
    return f"{int(seed)}|{prompt}"


def gate_tags(evaluation: Mapping[str, Any]) -> dict[str, str]:
    """What the gate reads later, from an evaluation: the 95% CI of the gated metrics, the adapter's
    concept motion fidelity per prompt × seed pair, and the context that makes pairs comparable."""
    aggregate = evaluation.get("aggregate", {})
    tags = {f"{TAG_CI_PREFIX}{name}": json.dumps([float(aggregate[name]["ci95_low"]), float(aggregate[name]["ci95_high"]),
                                                  int(aggregate[name]["n"])])
            for name in CI_METRICS if name in aggregate}
    rows = [row for row in evaluation.get("per_video", []) if row.get(PAIR_METRIC) is not None]
    if rows:
        tags[TAG_PAIRS] = json.dumps({pair_key(r["prompt"], r["seed"]): round(float(r[PAIR_METRIC]), 6) for r in rows},
                                     sort_keys=True)
    context = evaluation.get("settings", {}).get("pair_context")
    if context:
        tags[TAG_PAIR_CONTEXT] = str(context)
    return tags


def dataset_provenance(ingest_dir: str | Path) -> dict[str, str]:
    """DVC revision and commit (or the plain source) of the clips an ingest folder holds."""
    origin = clips_provenance(ingest_dir)
    if not origin.dvc_revs:
        return {TAG_DATASET_REV: "none (not from DVC): " + ",".join(origin.sources)}
    return {TAG_DATASET_REV: ",".join(origin.dvc_revs), TAG_DATASET_COMMIT: ",".join(origin.dvc_commits)}


def dataset_input(ingest_dir: str | Path, concept: str, content_hash: str) -> Any:
    """The clips a version was trained on, as an MLflow dataset input (so runs list their dataset):
    where they came from (the DVC path, or the source), the preprocessed content hash as digest, and
    the DVC revision and commit as tags."""
    origin = clips_provenance(ingest_dir)
    return training_dataset(origin.location, f"{concept}-clips", content_hash[:16],
                            {"motionlora.clips": str(origin.num_clips), **dataset_provenance(ingest_dir)})


def version_description(concept: str, preset: str, decision: Any, evaluation: Mapping[str, Any], pipeline_run_id: str) -> str:
    """What the registry's version page says first: the recipe, the gate's verdict and the headline evidence."""
    aggregate = evaluation.get("aggregate", {})
    shown = []
    for name in ("motion_gain", "judge_motion_correct", "text_alignment_delta", "appearance_leakage"):
        stat = aggregate.get(name)
        if stat:
            shown.append(f"{name} {stat['mean']:.3g} (95% CI [{stat['ci95_low']:.3g}, {stat['ci95_high']:.3g}])")
    return (f"Motion adapter for {concept!r} (preset {preset}), registered by pipeline run {pipeline_run_id}. "
            f"Gate: {decision.verdict}. " + "; ".join(shown))


def version_tags(adapter_dir: Path, concept: str, pipeline_run_id: str, ingest_dir: Path,
                 metrics: Mapping[str, float], evaluation: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Provenance and evaluation tags for a new version."""
    from motionlora.motion.adapter_info import MotionAdapterInfo
    from motionlora.tracking import git_commit

    info = MotionAdapterInfo.read(adapter_dir)
    train = info.extra.get("train", {})
    tags = {
        TAG_CONCEPT: concept,
        TAG_PIPELINE_RUN: pipeline_run_id,
        TAG_BASE_MODEL: info.base_model.get("source", "unknown"),
        TAG_BASE_WEIGHTS: info.base_model.get("weights_sha256", "unknown"),
        TAG_PRESET: info.preset,
        TAG_HIGHWAY: f"{info.highway_scope} beta={info.highway_beta}",
        TAG_GIT_COMMIT: git_commit() or "unknown",
        TAG_DATASET_HASH: str(train.get("data_content_hash", "unknown")),
        TAG_TRAIN_RUN: str(train.get("mlflow_run_id") or "none"),
        **dataset_provenance(ingest_dir),
    }
    tags.update({f"{TAG_METRIC_PREFIX}{name}": f"{value:.6g}" for name, value in metrics.items()})
    if evaluation is not None:
        tags.update(gate_tags(evaluation))
    return tags


def _ensure_model(client: Any, name: str, concept: str) -> None:
    try:
        client.create_registered_model(name, tags={TAG_CONCEPT: concept},
                                       description=f"motion adapters for the concept {concept!r} (motionlora)")
    except MlflowException as err:
        if not already_exists(err):
            raise


def register_adapter(
    adapter_dir: str | Path,
    evaluation_dir: str | Path,
    ingest_dir: str | Path,
    base_model: str,
    concept: str,
    gate: GateConfig,
    pipeline_run_id: str,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
) -> Registration:
    """Log, register, make challenger and gate the adapter (see the module doc)."""
    from motionlora.motion.adapter_info import check_adapter_weights
    from motionlora.registry.model import log_motion_model
    from motionlora.tracking import start_run

    adapter_dir, name = Path(adapter_dir), model_name(concept)
    check_adapter_weights(adapter_dir)
    evaluation = read_evaluation(evaluation_dir)
    metrics = evaluation_means(evaluation)
    settings = evaluation.get("settings", {})
    tags = version_tags(adapter_dir, concept, pipeline_run_id, Path(ingest_dir), metrics, evaluation)
    with start_run(tracking_uri, None, "register", parent_run_id) as run:
        logged = log_motion_model(adapter_dir, base_model, settings.get("sampling", {}))
        client = tracking_client(run.tracking_uri)
        _ensure_model(client, name, concept)
        version = client.create_model_version(name, logged.model_uri, run_id=run.run_id, tags=tags,
                                              model_id=logged.model_id)
        number = str(version.version)
        try:  # the alias moves last: if anything before it fails, deleting the version undoes everything
            decision = assess(client, name, number, gate, AliasState.read(client, name).champion)
            client.update_model_version(name, number, description=version_description(
                concept, tags[TAG_PRESET], decision, evaluation, pipeline_run_id))
            aliases = set_challenger(client, name, number)
        except Exception:
            client.delete_model_version(name, number)
            raise
        result = Registration(name, number, f"models:/{name}/{number}", decision, aliases)
        run.log_params({"registered_model": name, "registered_version": number})
        log_metrics(client, run.run_id, metrics, model_id=logged.model_id)
        training = dataset_input(ingest_dir, concept, tags[TAG_DATASET_HASH])
        for run_id in filter(None, (run.run_id, parent_run_id)):
            client.log_inputs(run_id, datasets=[training])
        for run_id in filter(None, (run.run_id, parent_run_id)):
            record_decision(client, run_id, {"motionlora.registered": f"{name} v{number}",
                                             "motionlora.gate": decision.verdict}, result.describe(), "registration.md")
        if parent_run_id:
            log_metrics(client, parent_run_id, headline_metrics(evaluation, decision.passed))
            record_reuse(client, parent_run_id, None if tags[TAG_TRAIN_RUN] == "none" else tags[TAG_TRAIN_RUN])
    return result
