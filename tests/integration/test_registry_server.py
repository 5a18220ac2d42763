"""The registry rules against a real `mlflow server` (the `mlflow_server` fixture of conftest.py):
a run whose gate fails leaves the champion, a failed run is withdrawn, rollback restores the previous
champion, and racing promotions end consistent."""

from __future__ import annotations

import itertools
import json
import threading

import mlflow
import pytest

from motionlora.registry.gate import GateConfig
from motionlora.registry.names import (
    TAG_CI_PREFIX,
    TAG_GATE,
    TAG_GATE_COMPARED_TO,
    TAG_METRIC_PREFIX,
    TAG_PIPELINE_RUN,
    TAG_REPLACED,
)
from motionlora.registry.pipeline_run import finish_pipeline_run, open_pipeline_run, promote_for_pipeline
from motionlora.registry.promotion import AliasState, assess, consistency_problems, promote, rollback, set_challenger

pytestmark = pytest.mark.slow

GATE = GateConfig(min_motion_gain=0.0, text_alignment_tolerance=5.0, max_appearance_leakage=3.0, tolerance=0.05)
_concepts = itertools.count()


@pytest.fixture
def registry(mlflow_server):
    """A client of the server and a fresh concept (the server is shared with other test modules)."""
    concept = f"registry-test{next(_concepts)}"
    client = mlflow.MlflowClient(mlflow_server)
    client.create_registered_model(f"motion-{concept}")
    return client, concept, f"motion-{concept}"


def pipeline_registration(client, model: str, pipeline_run_id: str, motion_gain: float) -> str:
    """What the register step leaves: a version with the gate's evidence (motion gain with a 95% CI of
    ±0.1 over 8 pairs, no per-pair scores) and provenance, made challenger and gated."""
    tags = {f"{TAG_METRIC_PREFIX}motion_gain": str(motion_gain),
            f"{TAG_CI_PREFIX}motion_gain": json.dumps([motion_gain - 0.1, motion_gain + 0.1, 8]),
            f"{TAG_METRIC_PREFIX}text_alignment_delta": "-1", f"{TAG_METRIC_PREFIX}appearance_leakage": "0.5",
            TAG_PIPELINE_RUN: pipeline_run_id}
    version = str(client.create_model_version(model, "s3://motionlora-test/model", tags=tags).version)
    assess(client, model, version, GATE, set_challenger(client, model, version).champion)
    return version


def test_a_run_whose_gate_fails_leaves_the_champion(mlflow_server, registry):
    client, concept, model = registry
    parent = open_pipeline_run(mlflow_server, "registry-tests", "run-a", concept, {})
    v1 = pipeline_registration(client, model, "run-a", 0.5)
    assert promote_for_pipeline(mlflow_server, concept, GATE, "run-a", parent).action == "promoted"
    finish_pipeline_run(mlflow_server, "registry-tests", "run-a", succeeded=True)

    parent = open_pipeline_run(mlflow_server, "registry-tests", "run-b", concept, {})
    v2 = pipeline_registration(client, model, "run-b", 0.3)  # 0.3 < 0.5 - 0.05
    assert client.get_model_version(model, v2).tags[TAG_GATE] == "failed"
    assert promote_for_pipeline(mlflow_server, concept, GATE, "run-b", parent).action == "rejected"
    finish_pipeline_run(mlflow_server, "registry-tests", "run-b", succeeded=True)
    assert AliasState.read(client, model) == AliasState(champion=v1, challenger=v2)
    assert client.get_run(parent).data.tags["motionlora.promotion"] == "rejected"


def test_a_failed_run_leaves_no_alias_behind(mlflow_server, registry):
    client, concept, model = registry
    v1 = pipeline_registration(client, model, "run-c", 0.5)
    promote(client, model, v1, GATE, "test")
    open_pipeline_run(mlflow_server, "registry-tests", "run-d", concept, {})
    v2 = pipeline_registration(client, model, "run-d", 0.6)
    message = finish_pipeline_run(mlflow_server, "registry-tests", "run-d", succeeded=False, error="Task pipeline failed.")
    assert f"withdrew {model} v{v2}" in message
    assert AliasState.read(client, model) == AliasState(champion=v1, challenger=v1)


def test_rollback_restores_the_previous_champion(registry):
    client, _, model = registry
    v1, v2 = (pipeline_registration(client, model, "run-e", mf) for mf in (0.5, 0.55))
    promote(client, model, v1, GATE, "test")
    promote(client, model, v2, GATE, "test")
    rollback(client, model, "test", "v2 looks wrong")
    assert AliasState.read(client, model) == AliasState(champion=v1, challenger=v2)
    assert consistency_problems(client, model) == []


@pytest.mark.parametrize("round_", range(3))
def test_racing_promotions_end_with_a_champion_that_passed_against_the_one_it_replaced(registry, round_):
    """v2 beats v1 and v3; v3 beats v1 but not v2. Whichever racer goes first, v2 must end as champion,
    judged against the version it replaced, with previous-champion pointing at that version."""
    client, _, model = registry
    v1, v2, v3 = (pipeline_registration(client, model, "run-f", mf) for mf in (0.5, 0.56, 0.5))
    promote(client, model, v1, GATE, "test")
    start = threading.Barrier(2)
    results, errors = {}, []

    def racer(version: str) -> None:
        try:
            start.wait()
            results[version] = promote(mlflow.MlflowClient(client.tracking_uri), model, version, GATE, f"racer {version}").action
        except Exception as err:  # reported below: an exception in a thread would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=racer, args=(v,)) for v in (v2, v3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = AliasState.read(client, model)
    assert state.champion == v2 and results[v2] == "promoted"
    assert results[v3] in ("promoted", "rejected")
    tags = client.get_model_version(model, v2).tags
    assert tags[TAG_GATE_COMPARED_TO] == tags[TAG_REPLACED] == state.previous_champion
    assert consistency_problems(client, model) == []
