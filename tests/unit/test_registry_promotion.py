"""Promotion policy on a real MLflow registry (SQLite): gate, aliases, rollback, undo on failure."""

from __future__ import annotations

import itertools
import json

import mlflow
import pytest

from motionlora.registry.gate import GateConfig
from motionlora.registry.names import (
    TAG_CI_PREFIX,
    TAG_GATE,
    TAG_GATE_REASONS,
    TAG_METRIC_PREFIX,
    TAG_PAIR_CONTEXT,
    TAG_PAIRS,
    TAG_PIPELINE_STATUS,
    TAG_PROMOTION,
    TAG_PROMOTION_REASON,
    TAG_ROLLED_BACK,
)
from motionlora.registry.promotion import (
    AliasState,
    consistency_problems,
    promote,
    recorded_gate,
    rollback,
    set_challenger,
    version_evidence,
    withdraw,
)
from motionlora.registry.registration import gate_tags

GATE = GateConfig(min_motion_gain=0.0, text_alignment_tolerance=5.0, max_appearance_leakage=3.0, tolerance=0.05)
_names = itertools.count()


@pytest.fixture(scope="module")
def client(tmp_path_factory, mlflow_sqlite):
    """One SQLite registry for the module (creating its tables takes seconds); each test uses its own model."""
    return mlflow.MlflowClient(mlflow_sqlite(tmp_path_factory.mktemp("registry")))


@pytest.fixture
def model(client):
    name = f"motion-test{next(_names)}"
    client.create_registered_model(name)
    return name


def add_version(client, model: str, motion_gain: float, pairs: dict | None = None, tags: dict | None = None,
                run_id: str | None = None, extra_tags: dict | None = None) -> str:
    """A registered version carrying the gate's evidence as the register step leaves it: motion_gain
    with a 95% CI of ±0.1 over 8 pairs, text and leakage within limits, optionally per-pair scores;
    `run_id` and `extra_tags` as a pipeline's register step sets them."""
    if tags is None:
        tags = {f"{TAG_METRIC_PREFIX}motion_gain": str(motion_gain), f"{TAG_METRIC_PREFIX}text_alignment_delta": "-1.0",
                f"{TAG_METRIC_PREFIX}appearance_leakage": "0.5",
                f"{TAG_CI_PREFIX}motion_gain": json.dumps([motion_gain - 0.1, motion_gain + 0.1, 8])}
        if pairs is not None:
            tags.update({TAG_PAIRS: json.dumps(pairs), TAG_PAIR_CONTEXT: "ctx"})
    version = str(client.create_model_version(model, "/nonexistent/model", run_id=run_id, tags={**tags, **(extra_tags or {})}).version)
    set_challenger(client, model, version)
    return version


def test_the_first_version_that_passes_becomes_champion(client, model):
    v1 = add_version(client, model, 0.5)
    result = promote(client, model, v1, GATE, "test")
    assert result.action == "promoted" and result.moved
    assert AliasState.read(client, model) == AliasState(champion=v1, challenger=v1)
    assert client.get_model_version(model, v1).tags[TAG_PROMOTION] == "promoted"
    assert consistency_problems(client, model) == []
    assert recorded_gate(client, model, v1) == GATE


def test_a_better_version_replaces_the_champion_which_becomes_previous(client, model):
    v1, v2 = add_version(client, model, 0.5), add_version(client, model, 0.47)
    promote(client, model, v1, GATE, "test")
    result = promote(client, model, v2, GATE, "test")
    assert result.action == "promoted"
    assert AliasState.read(client, model) == AliasState(champion=v2, challenger=v2, previous_champion=v1)
    assert consistency_problems(client, model) == []
    assert promote(client, model, v2, GATE, "test").action == "unchanged"


def test_a_failing_gate_moves_nothing_and_records_why(client, model):
    v1, v2 = add_version(client, model, 0.5), add_version(client, model, 0.44)
    promote(client, model, v1, GATE, "test")
    before = AliasState.read(client, model)
    result = promote(client, model, v2, GATE, "test")
    assert result.action == "rejected" and not result.moved
    assert AliasState.read(client, model) == before
    tags = client.get_model_version(model, v2).tags
    assert tags[TAG_GATE] == "failed" and f"FAIL no regression against champion v{v1}" in tags[TAG_GATE_REASONS]
    assert "compared motion_gain means): 0.4400 < 0.5000 - tolerance 0.0500" in tags[TAG_GATE_REASONS]
    assert TAG_PROMOTION not in tags
    assert "FAIL no regression" in result.describe()


def test_forcing_a_failing_version_needs_a_reason_which_is_recorded(client, model):
    v1 = add_version(client, model, 0.1)
    with pytest.raises(ValueError, match="reason"):
        promote(client, model, v1, GATE, "test", force=True)
    result = promote(client, model, v1, GATE, "alice", force=True, reason="demo on Friday")
    assert result.action == "forced" and AliasState.read(client, model).champion == v1
    assert client.get_model_version(model, v1).tags[TAG_PROMOTION_REASON] == "demo on Friday"
    assert consistency_problems(client, model) == []


def test_rollback_restores_the_previous_champion_and_steps_the_chain_back(client, model):
    v1, v2, v3 = (add_version(client, model, mf) for mf in (0.5, 0.52, 0.54))
    for version in (v1, v2, v3):
        promote(client, model, version, GATE, "test")
    result = rollback(client, model, "bob", "v3 flickers")
    assert result.version == v2
    assert AliasState.read(client, model) == AliasState(champion=v2, challenger=v3, previous_champion=v1)
    assert "v3 flickers" in client.get_model_version(model, v3).tags[TAG_ROLLED_BACK]
    assert consistency_problems(client, model) == []
    rollback(client, model, "bob", "and v2 too")
    assert AliasState.read(client, model) == AliasState(champion=v1, challenger=v3)
    with pytest.raises(ValueError, match="no previous-champion"):
        rollback(client, model, "bob", "once more")


def test_a_write_that_fails_mid_promotion_is_undone(client, model, monkeypatch):
    v1, v2 = add_version(client, model, 0.5), add_version(client, model, 0.6)
    promote(client, model, v1, GATE, "test")
    before = AliasState.read(client, model)
    real = client.set_registered_model_alias

    def failing(name, alias, version):
        if alias == "champion":
            raise ConnectionError("tracking server went away")
        real(name, alias, version)

    monkeypatch.setattr(client, "set_registered_model_alias", failing)
    with pytest.raises(ConnectionError):
        promote(client, model, v2, GATE, "test")
    monkeypatch.undo()
    assert AliasState.read(client, model) == before
    assert TAG_PROMOTION not in client.get_model_version(model, v2).tags
    assert promote(client, model, v2, GATE, "test").action == "promoted"  # the lock was released


def test_a_failed_runs_version_is_withdrawn_and_cannot_be_promoted(client, model):
    v1, v2 = add_version(client, model, 0.5), add_version(client, model, 0.6)
    assert withdraw(client, model, v2).challenger == v1
    assert client.get_model_version(model, v2).tags[TAG_PIPELINE_STATUS] == "FAILED"
    with pytest.raises(ValueError, match="failed"):
        promote(client, model, v2, GATE, "test")


def test_a_lost_promotion_is_reported_as_inconsistent(client, model):
    v1, v2, v3 = (add_version(client, model, mf) for mf in (0.5, 0.52, 0.54))
    promote(client, model, v1, GATE, "test")
    promote(client, model, v2, GATE, "test")
    # What an unlocked racer would do: promote v3 against v1, as if v2 had never happened.
    client.set_model_version_tag(model, v3, TAG_PROMOTION, "promoted")
    client.set_model_version_tag(model, v3, "motionlora.replaced_champion", v1)
    client.set_registered_model_alias(model, "previous-champion", v1)
    client.set_registered_model_alias(model, "champion", v3)
    problems = consistency_problems(client, model)
    assert any(f"v{v2} was promoted" in p and "lost" in p for p in problems)


def test_the_evidence_recorded_at_registration_is_what_the_gate_reads(client, model):
    evaluation = {
        "settings": {"pair_context": "abc"},
        "aggregate": {"motion_gain": {"mean": 0.3, "ci95_low": 0.1, "ci95_high": 0.5, "n": 2},
                      "text_alignment_delta": {"mean": -1.0, "ci95_low": -2.0, "ci95_high": 0.0, "n": 2},
                      "appearance_leakage": {"mean": 0.0, "ci95_low": 0.0, "ci95_high": 0.0, "n": 2}},
        "per_video": [{"prompt": "a red circle", "seed": 0, "concept_motion_fidelity": 0.7},
                      {"prompt": "a red circle", "seed": 1, "concept_motion_fidelity": 0.5}],
    }
    tags = gate_tags(evaluation)
    assert tags[f"{TAG_CI_PREFIX}motion_gain"] == "[0.1, 0.5, 2]"
    assert json.loads(tags[TAG_PAIRS]) == {"0|a red circle": 0.7, "1|a red circle": 0.5}
    tags.update({f"{TAG_METRIC_PREFIX}{k}": str(v["mean"]) for k, v in evaluation["aggregate"].items()})
    version = str(client.create_model_version(model, "/nonexistent/model", tags=tags).version)
    found = version_evidence(client.get_model_version(model, version))
    assert found.ci95["motion_gain"] == (0.1, 0.5, 2) and found.pair_context == "abc"
    assert found.pairs == {"0|a red circle": 0.7, "1|a red circle": 0.5}
    assert found.means["motion_gain"] == 0.3


def test_the_champion_is_judged_pair_by_pair_when_the_pairs_match(client, model):
    v1 = add_version(client, model, 0.5, pairs={"0|a": 0.8, "1|a": 0.8, "0|b": 0.8})
    v2 = add_version(client, model, 0.5, pairs={"0|a": 0.5, "1|a": 0.6, "0|b": 0.4})  # 0.3 worse on every pair
    v3 = add_version(client, model, 0.45, pairs={"0|a": 0.82, "1|a": 0.78, "0|b": 0.8})
    promote(client, model, v1, GATE, "test")
    rejected = promote(client, model, v2, GATE, "test")
    assert rejected.action == "rejected"
    assert "FAIL no regression against champion v1 (paired t-test on 3 shared prompt × seed pairs)" in rejected.describe()
    assert promote(client, model, v3, GATE, "test").action == "promoted"


def test_an_old_version_without_the_new_tags_is_refused_with_a_reason(client, model):
    old = add_version(client, model, 0.0, tags={f"{TAG_METRIC_PREFIX}motion_fidelity": "0.6",
                                                f"{TAG_METRIC_PREFIX}text_alignment": "60"})
    result = promote(client, model, old, GATE, "test")
    assert result.action == "rejected"
    assert "FAIL motion_gain 95% CI: missing from the candidate's evaluation" in result.describe()
    client.set_model_version_tag(model, old, "motionlora.gate_config", '{"min_motion_fidelity": -1.0}')
    assert recorded_gate(client, model, old) is None  # an old gate's settings: today's defaults apply
    forced = promote(client, model, old, GATE, "alice", force=True, reason="known good")
    new = add_version(client, model, 0.3)
    result = promote(client, model, new, GATE, "test")
    assert forced.action == "forced" and result.action == "promoted"
    assert f"ok champion v{old} has no motion_gain recorded" in result.describe()
