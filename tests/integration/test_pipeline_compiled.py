"""The compiled pipeline in pipelines/compiled/ is what the code compiles to, and carries the train
step's cluster settings (GPU, placement, retries, no cache, timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "compiled" / "motion_customization.yaml"


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    """The checked-in YAML: the pipeline spec, then the Kubernetes platform spec."""
    return list(yaml.safe_load_all(COMPILED.read_text()))


def test_the_checked_in_yaml_is_up_to_date(tmp_path):
    """Fails when a component or the DAG changed without `python -m pipelines compile`."""
    out = tmp_path / "compiled.yaml"
    env = {k: v for k, v in os.environ.items() if k != "MOTIONLORA_IMAGE"}  # the default image is checked in
    subprocess.run([sys.executable, "-m", "pipelines", "compile", "--out", str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    assert out.read_text() == COMPILED.read_text(), (
        f"{COMPILED.relative_to(ROOT)} is out of date: run `python -m pipelines compile` and commit the result")


def test_every_step_runs_the_project_image(documents):
    executors = documents[0]["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {"motionlora:latest"}


def test_the_train_step_asks_for_a_gpu_node_retries_and_times_out(documents):
    from pipelines import placement

    spec, platform = documents
    task = spec["root"]["dag"]["tasks"]["exit-handler-1"]
    train = spec["components"][task["componentRef"]["name"]]["dag"]["tasks"]["train"]
    assert train["retryPolicy"]["maxRetryCount"] == placement.TRAIN_RETRIES
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == placement.GPU_RESOURCE
    config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert config["nodeSelector"]["labels"] == placement.GPU_NODE_SELECTOR
    assert config["tolerations"] == [dict(t) for t in placement.GPU_TOLERATIONS]
    assert config["activeDeadlineSeconds"] == str(placement.TRAIN_TIMEOUT_S)


def test_the_work_steps_are_cached_by_content_and_the_bookkeeping_steps_always_run(documents):
    spec, _ = documents
    task = spec["root"]["dag"]["tasks"]["exit-handler-1"]
    tasks = spec["components"][task["componentRef"]["name"]]["dag"]["tasks"]
    cached = {name for name, t in tasks.items() if t.get("cachingOptions", {}).get("enableCache")}
    assert cached == {"ingest", "preprocess", "train", "evaluate"}
    for name in cached:  # nothing new in every run among their inputs: the parent run id is not one
        inputs = tasks[name]["inputs"]["parameters"]
        assert "parent_run_id" not in inputs
        assert inputs["content_key"]["taskOutputParameter"] == {"outputParameterKey": "content_key",
                                                                "producerTask": "start-run"}


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_every_step_is_non_root_bounded_labelled_for_mlflow_and_logged_in(documents):
    from pipelines import placement

    spec, platform = documents
    executors = spec["deploymentSpec"]["executors"]
    configs = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(configs) == set(executors)
    for name, executor in executors.items():
        wanted = placement.TRAIN_RESOURCES if name == "exec-train" else placement.STEP_RESOURCES
        resources = executor["container"]["resources"]
        assert (resources["cpuRequest"], resources["cpuLimit"]) == (_cores(wanted["cpu_request"]), _cores(wanted["cpu_limit"])), name
        assert resources["memoryRequest"] > 0 and resources["memoryLimit"] >= resources["memoryRequest"], name
        config = configs[name]
        assert config["securityContext"] == {"runAsUser": "1000", "runAsGroup": "1000", "runAsNonRoot": True}, name
        assert config["podMetadata"]["labels"] == dict([placement.MLFLOW_CLIENT_LABEL]), name
        [secret] = config["secretAsEnv"]
        assert secret["secretName"] == placement.MLFLOW_CLIENT_SECRET
        assert {k["secretKey"]: k["envVar"] for k in secret["keyToEnv"]} == placement.MLFLOW_CLIENT_ENV
    [launch] = configs["exec-train"]["configMapAsEnv"]
    assert launch["configMapName"] == placement.LAUNCH_CONFIG_MAP
    assert sorted(k["envVar"] for k in launch["keyToEnv"]) == sorted(placement.LAUNCH_KEYS)
