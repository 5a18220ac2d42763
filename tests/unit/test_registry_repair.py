"""A registry that survives crashes (real MLflow registry on SQLite): a killed pipeline run's version
is not promotable, `repair` closes such runs out, and a dead holder's lock can be broken on purpose."""

from __future__ import annotations

import itertools
import time

import mlflow
import pytest
from test_registry_promotion import GATE, add_version

from motionlora import cli
from motionlora.registry.lock import PromotionLock
from motionlora.registry.names import TAG_PIPELINE_RUN, TAG_PIPELINE_STATUS
from motionlora.registry.pipeline_run import open_pipeline_run
from motionlora.registry.promotion import AliasState, promote
from motionlora.registry.repair import TAG_BROKEN_REASON, repair, unlock
from motionlora.tracking import PARENT_TAG
from motionlora.tracking.pipeline_run import KIND_PIPELINE, TAG_FAILURE, TAG_KIND

_ids = itertools.count()
HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow_sqlite):
    return mlflow_sqlite(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def client(store):
    return mlflow.MlflowClient(store)


@pytest.fixture
def experiment(client):
    name = f"pipelines{next(_ids)}"
    return name, client.create_experiment(name)


def killed_run(client, experiment, model, hours_ago: float = 0.0) -> tuple[str, str, str]:
    """A pipeline run killed after register: parent RUNNING, its version `challenger`, nothing failed.
    Returns (KFP run id, parent MLflow run id, version)."""
    pipeline_run = f"kfp-{next(_ids)}"
    parent = client.create_run(experiment[1], start_time=int(time.time() * 1000 - hours_ago * HOUR_MS),
                               tags={TAG_PIPELINE_RUN: pipeline_run, TAG_KIND: KIND_PIPELINE}).info.run_id
    register = client.create_run(experiment[1], tags={PARENT_TAG: parent}).info.run_id
    client.set_terminated(register, "FINISHED")
    return pipeline_run, parent, add_version(client, model, 0.5, run_id=register, extra_tags={TAG_PIPELINE_RUN: pipeline_run})


@pytest.fixture
def model(client):
    name = f"motion-repair{next(_ids)}"
    client.create_registered_model(name)
    return name


def test_an_unfinished_runs_version_is_promoted_only_by_that_run_or_with_force(client, experiment, model):
    pipeline_run, _, version = killed_run(client, experiment, model)
    with pytest.raises(ValueError, match=f"v{version} comes from pipeline run {pipeline_run}, which has not finished"):
        promote(client, model, version, GATE, "someone")
    assert AliasState.read(client, model).champion is None
    assert promote(client, model, version, GATE, "the run itself", pipeline_run=pipeline_run).action == "promoted"


def test_repair_closes_out_a_killed_run_and_its_version_can_no_longer_be_promoted(client, experiment, model, store, capsys):
    earlier = add_version(client, model, 0.4)
    pipeline_run, parent, version = killed_run(client, experiment, model, hours_ago=30)
    assert AliasState.read(client, model).challenger == version
    assert repair(client, experiment[0], older_than_s=48 * 3600) == []  # younger than the threshold: left alone
    code = cli.main(["registry", "--tracking-uri", store, "repair", "--experiment", experiment[0]])
    [line] = capsys.readouterr().out.splitlines()
    assert code == 0 and line.startswith(f"pipeline run {pipeline_run} (MLflow run {parent}, started 30.0 h ago) marked FAILED; "
                                         f"withdrew {model} v")
    run = client.get_run(parent)
    assert run.info.status == "FAILED" and run.data.tags[TAG_FAILURE].startswith("never finished: still RUNNING after 30.0 h")
    assert client.get_model_version(model, version).tags[TAG_PIPELINE_STATUS] == "FAILED"
    assert AliasState.read(client, model).challenger == earlier
    with pytest.raises(ValueError, match="failed"):
        promote(client, model, version, GATE, "someone", force=True, reason="try anyway")


def test_the_next_pipeline_run_repairs_runs_killed_long_ago(client, experiment, model, store):
    _, old_parent, version = killed_run(client, experiment, model, hours_ago=25)
    _, young_parent, _ = killed_run(client, experiment, model, hours_ago=1)
    open_pipeline_run(store, experiment[0], f"kfp-new-{next(_ids)}", "repair", {})
    assert client.get_run(old_parent).info.status == "FAILED"
    assert client.get_model_version(model, version).tags[TAG_PIPELINE_STATUS] == "FAILED"
    assert client.get_run(young_parent).info.status == "RUNNING"  # may still be alive


def test_a_dead_holders_lock_is_broken_on_purpose_with_the_reason_kept(client, model, capsys, store):
    dead = PromotionLock(client, model, holder="gone-host:4242")
    dead.acquire()  # never released: its process was killed
    code = cli.main(["registry", "--tracking-uri", store, "unlock", model, "--reason", "node gone-host was drained"])
    [line] = capsys.readouterr().out.splitlines()
    assert code == 0
    assert line == f"broke the lock of {model} held by gone-host:4242; kept as {model}.promotion-lock.broken-{dead.token} with the reason"
    marker = client.get_registered_model(f"{model}.promotion-lock.broken-{dead.token}")
    assert marker.tags[TAG_BROKEN_REASON] == "node gone-host was drained"
    version = add_version(client, model, 0.5)
    assert promote(client, model, version, GATE, "next", lock_timeout_s=1.0).action == "promoted"  # no lease to wait out
    assert unlock(client, model, "again", by="me") == f"{model} is not locked"
    with pytest.raises(ValueError, match="needs a reason"):
        unlock(client, model, " ", by="me")
    assert AliasState.read(client, model).challenger == version
