"""The TrainJob body: what it runs, where, on what, and that the pinned Trainer's CRD accepts it."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from trainjob_schema import errors

from motionlora.config import load_config
from motionlora.launch import LaunchSettings
from motionlora.launch.trainjob import build_trainjob, job_name, training_command
from motionlora.launch.versions import TRAINER_VERSION, patch_field
from motionlora.tracking import TrackingOptions
from motionlora.train import TrainConfig
from motionlora.train.commands import train_argv
from motionlora.train.request import TrainRequest

REQUEST = TrainRequest(dataclasses.replace(load_config(TrainConfig, "configs/tiny.yaml", "train"), steps=200),
                       "/data/pre/zigzag", "/data/runs/zigzag", tracking=TrackingOptions(tracking_uri="http://mlflow:5000"))
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def settings(**kw) -> LaunchSettings:
    base = dict(launcher="trainer", nodes=2, gpus_per_node=4, image="registry.example/motionlora:1.0",
                pvc="motionlora-data", env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
                secret_env={"AWS_ACCESS_KEY_ID": "mlflow-s3/access-key"},
                node_selector={"nvidia.com/gpu.present": "true"}, tolerations=(GPU_TOLERATION,),
                resources={"memory": "64Gi"})
    return LaunchSettings(**{**base, **kw})


def test_body_runs_the_train_command_on_n_gpu_nodes_with_the_shared_volume():
    body = build_trainjob("motionlora-zigzag-1", "ml", REQUEST, settings(), attempt=1)
    trainer = body["spec"]["trainer"]
    assert body["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                          "name": "torch-distributed"}
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 4
    assert trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": "4", "memory": "64Gi"}
    assert trainer["image"] == "registry.example/motionlora:1.0"
    assert trainer["command"] + trainer["args"] == ["torchrun", "--module", "motionlora", "train", *train_argv(REQUEST)]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in trainer["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MOTIONLORA_CACHE"] == "/data/cache/motionlora" and env["HF_HOME"] == "/data/cache/huggingface"
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "mlflow-s3", "key": "access-key"}}
    (patch,) = body["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]["spec"]
    assert node["name"] == "node"
    assert pod["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "motionlora-data"}},
                              {"name": "tmp", "emptyDir": {}}]
    [container] = pod["containers"]
    assert container["name"] == "node"
    assert container["volumeMounts"] == [{"name": "shared", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}]
    assert env["HOME"] == "/tmp"  # the root filesystem is read-only
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"} and pod["tolerations"] == [GPU_TOLERATION]
    assert body["metadata"]["annotations"]["motionlora.io/out"] == "/data/runs/zigzag"


@pytest.mark.parametrize("kw", [{}, {"gpus_per_node": 0, "resources": {}, "node_selector": {}, "tolerations": ()}])
def test_body_validates_against_the_pinned_trainer_crd(kw):
    assert errors(build_trainjob(job_name("/data/runs/zigzag"), "ml", REQUEST, settings(**kw), attempt=3)) == []


def test_the_strict_schema_rejects_the_v2_1_override_field():
    """Guards the guard: v2.1's podTemplateOverrides would be pruned silently by a v2.2 API server."""
    body = build_trainjob("motionlora-x-1", "ml", REQUEST, settings(), attempt=1)
    old = copy.deepcopy(body)
    old["spec"]["podTemplateOverrides"] = old["spec"].pop("runtimePatches")
    assert any("podTemplateOverrides" in e for e in errors(old))


def test_patch_field_follows_the_pinned_version_and_refuses_other_shapes():
    assert TRAINER_VERSION.startswith("v2.2.") and patch_field() == "runtimePatches"
    with pytest.raises(ValueError, match="podTemplateOverrides"):
        patch_field("v2.1.0")
    with pytest.raises(ValueError, match="not supported"):
        patch_field("v2.3.0")


def test_job_names_are_deterministic_rfc1035_labels():
    a = job_name("/data/runs/Zigzag_Run 7/")
    assert a == job_name("/data/runs/Zigzag_Run 7/") != job_name("/data/runs/zigzag-run-8")
    assert a.startswith("motionlora-zigzag-run-7-")
    long = job_name("/data/" + "x" * 200)
    assert len(long) <= 63 and errors({"metadata": {"name": long}}) == []


@pytest.mark.parametrize("folder", ["data", "out"])
def test_paths_off_the_shared_volume_are_refused(folder):
    elsewhere = dataclasses.replace(REQUEST, **{folder: "/tmp/elsewhere"})
    with pytest.raises(ValueError, match=f"the {folder} folder /tmp/elsewhere must be under the shared volume's mount path /data"):
        build_trainjob("motionlora-x-1", "ml", elsewhere, settings(), attempt=1)


def test_trainer_launcher_needs_a_shared_volume():
    with pytest.raises(ValueError, match="needs a shared volume"):
        build_trainjob("motionlora-x-1", "ml", REQUEST, settings(pvc=None), attempt=1)


def test_command_is_the_local_one_under_torchrun():
    assert training_command(REQUEST) == (["torchrun", "--module", "motionlora"], ["train", *train_argv(REQUEST)])


def test_training_pods_are_locked_down_and_may_reach_mlflow():
    body = build_trainjob("motionlora-x-1", "ml", REQUEST, settings(), attempt=1)
    (node,) = body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    template = node["template"]["spec"]["template"]
    assert template["metadata"]["labels"] == {"motionlora.io/mlflow-client": "true"}
    pod = template["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                       "capabilities": {"drop": ["ALL"]}}
