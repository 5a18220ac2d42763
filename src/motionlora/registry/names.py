"""The names the registry shares with everyone who reads it: one registered model per motion
concept, its three aliases, and the tag keys that carry provenance, metrics and decisions.

They are constants in one place because the pipeline, the CLI, the tests and people looking at
the MLflow UI must all agree on them.
"""

from __future__ import annotations

import re

# The KFP run id: on a pipeline's MLflow parent run, where it is defined, and on every version it registers.
from motionlora.tracking.pipeline_run import TAG_PIPELINE_RUN as TAG_PIPELINE_RUN

MODEL_PREFIX = "motion-"
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)

# The promotion lock is a registered model of this name (see `lock`); `registry list` hides them.
LOCK_SUFFIX = ".promotion-lock"

_TAG = "motionlora."
# Provenance, written on every registered version.
TAG_CONCEPT = _TAG + "concept"
TAG_DATASET_REV = _TAG + "dataset_rev"
TAG_DATASET_COMMIT = _TAG + "dataset_commit"
TAG_DATASET_HASH = _TAG + "dataset_content_hash"
TAG_BASE_MODEL = _TAG + "base_model"
TAG_BASE_WEIGHTS = _TAG + "base_model_weights_sha256"
TAG_PRESET = _TAG + "preset"
TAG_HIGHWAY = _TAG + "highway"
TAG_GIT_COMMIT = _TAG + "git_commit"
TAG_TRAIN_RUN = _TAG + "train_run_id"
TAG_PREVIOUS_CHALLENGER = _TAG + "previous_challenger"
# Aggregate evaluation means, one tag per metric: `motionlora.metric.motion_fidelity`.
TAG_METRIC_PREFIX = _TAG + "metric."
# What the gate needs beyond the means: the 95% CI of a metric, `motionlora.ci95.motion_gain` =
# JSON [low, high, n]; the adapter's concept motion fidelity per prompt × seed pair (JSON
# {"seed|prompt": score}); and the context that makes pairs comparable across versions (base model
# weights and the sampling settings of the base clips).
TAG_CI_PREFIX = _TAG + "ci95."
TAG_PAIRS = _TAG + "pairs"
TAG_PAIR_CONTEXT = _TAG + "pair_context"
# The last gate evaluation of a version: "passed" or "failed", with its reasons.
TAG_GATE = _TAG + "gate"
TAG_GATE_REASONS = _TAG + "gate_reasons"
TAG_GATE_COMPARED_TO = _TAG + "gate_compared_to"
TAG_GATE_CONFIG = _TAG + "gate_config"
# Written only when a version becomes champion: how ("promoted" or "forced"), who, why, and the
# champion it replaced (which `rollback` returns to and the consistency check compares with).
TAG_PROMOTION = _TAG + "promotion"
TAG_PROMOTED_BY = _TAG + "promoted_by"
TAG_PROMOTED_AT = _TAG + "promoted_at"
TAG_PROMOTION_REASON = _TAG + "promotion_reason"
TAG_REPLACED = _TAG + "replaced_champion"
# Written on a champion that `rollback` removed, and on versions of a pipeline run that failed.
TAG_ROLLED_BACK = _TAG + "rolled_back"
TAG_PIPELINE_STATUS = _TAG + "pipeline_status"

PROMOTION_KINDS = ("promoted", "forced")

_CONCEPT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def model_name(concept: str) -> str:
    """`motion-<concept>`; concepts are restricted so the name is valid everywhere MLflow runs."""
    if not _CONCEPT.fullmatch(concept):
        raise ValueError(f"concept {concept!r}: use letters, digits, '-' and '_' (at most 100), starting with a letter or digit")
    return MODEL_PREFIX + concept


def is_lock_model(name: str) -> bool:
    """True for the registered models the promotion lock creates (live locks and broken markers)."""
    return LOCK_SUFFIX in name
