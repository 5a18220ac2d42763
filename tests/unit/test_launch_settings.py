"""LaunchSettings: validation, and reading the cluster's choices from the motionlora-launch ConfigMap env."""

from __future__ import annotations

import pytest

from motionlora.launch import LaunchSettings


def test_from_env_reads_the_configmap_keys_and_forwards_mlflow():
    env = {
        "MOTIONLORA_LAUNCHER": "trainer", "MOTIONLORA_NODES": "3", "MOTIONLORA_GPUS_PER_NODE": "8",
        "MOTIONLORA_IMAGE": "reg/motionlora:2", "MOTIONLORA_RUNTIME": "torch-distributed", "MOTIONLORA_PVC": "motionlora-data",
        "MOTIONLORA_NODE_SELECTOR": '{"nvidia.com/gpu.present": "true"}',
        "MOTIONLORA_TOLERATIONS": '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
        "MOTIONLORA_KEEP_JOB": "true", "MLFLOW_TRACKING_URI": "http://mlflow:5000", "UNRELATED": "x",
    }
    s = LaunchSettings.from_env(env, run_id="run-42")
    assert (s.launcher, s.nodes, s.gpus_per_node, s.image, s.pvc, s.keep_job, s.run_id) == (
        "trainer", 3, 8, "reg/motionlora:2", "motionlora-data", True, "run-42")
    assert s.node_selector == {"nvidia.com/gpu.present": "true"}
    assert s.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert s.env == {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}


def test_defaults_are_local_and_single_node():
    s = LaunchSettings.from_env({})
    assert (s.launcher, s.nodes, s.gpus_per_node, s.runtime) == ("local", 1, 0, "torch-distributed")


@pytest.mark.parametrize("kw, message", [
    ({"launcher": "slurm"}, "launcher must be"),
    ({"nodes": 2}, "local launcher runs on one node"),
    ({"launcher": "trainer"}, "needs an image"),
    ({"gpus_per_node": -1}, "gpus_per_node >= 0"),
])
def test_bad_settings_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        LaunchSettings(**kw)
