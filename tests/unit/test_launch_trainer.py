"""The Trainer launcher against an in-process fake API server, through the real `kubernetes` client."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_k8s import FakeCluster, Step, condition, pod
from test_launch_local import make_checkpoint
from trainjob_schema import errors

from motionlora.launch import LaunchSettings, TrainJobFailed
from motionlora.launch.trainer import launch_on_trainer
from motionlora.launch.trainjob import build_trainjob, job_name
from motionlora.tracking import TrackingOptions
from motionlora.train import TrainConfig
from motionlora.train.commands import train_argv
from motionlora.train.request import TrainRequest

NS = "ml"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture
def cluster():
    with FakeCluster() as fake:
        yield fake


@pytest.fixture
def volume(tmp_path) -> Path:
    """The shared volume as the launcher's pod sees it (the PVC mounted at mount_path)."""
    return tmp_path


def settings(volume: Path, **kw) -> LaunchSettings:
    base = dict(launcher="trainer", nodes=2, gpus_per_node=8, image="reg/motionlora:1", namespace=NS,
                pvc="motionlora-data", mount_path=str(volume), poll_s=5.0, timeout_s=3600,
                env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
                node_selector={"nvidia.com/gpu.present": "true"}, tolerations=(GPU_TOLERATION,))
    return LaunchSettings(**{**base, **kw})


def request(volume: Path) -> TrainRequest:
    return TrainRequest(TrainConfig(steps=400), str(volume / "pre"), str(volume / "runs" / "zz"), "cerspense/zeroscope_v2_576w",
                        TrackingOptions(tracking_uri="http://mlflow:5000"))


class Clock:
    """Fake time: sleeping advances it; nothing waits."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def run(cluster: FakeCluster, volume: Path, clock: Clock | None = None, **kw):
    clock = clock or Clock()
    return launch_on_trainer(request(volume), settings(volume, **kw), client=cluster.client(),
                             sleep=clock.sleep, clock=clock)


def test_creates_the_trainjob_and_follows_it_to_success(cluster, volume, caplog):
    name = job_name(str(volume / "runs" / "zz"))
    cluster.scripts.append([
        Step([condition("Created", "JobSetCreated")]),
        Step([condition("Created", "JobSetCreated")], [pod(name, 0, "Pending"), pod(name, 1, "Pending")]),
        Step([condition("Created", "JobSetCreated")], [pod(name, 0, "Running"), pod(name, 1, "Running")]),
        Step([condition("Created", "JobSetCreated"), condition("Complete", "JobSetCompleted", "done")],
             [pod(name, 0, "Succeeded"), pod(name, 1, "Succeeded")]),
    ])
    cluster.logs[f"{name}-node-0-0"] = "step 1 loss 0.5\nstep 2 loss 0.4\n"
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="motionlora.launch"):
        result = run(cluster, volume, clock)

    (body,) = cluster.created()
    assert errors(body) == []
    trainer = body["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"]) == (2, "8")
    assert trainer["image"] == "reg/motionlora:1"
    assert trainer["command"] + trainer["args"] == ["torchrun", "--module", "motionlora", "train", *train_argv(request(volume))]
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"} in trainer["env"]
    pod_patch = body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
        "template"]["spec"]["template"]["spec"]
    assert pod_patch["volumes"][0]["persistentVolumeClaim"]["claimName"] == "motionlora-data"
    assert pod_patch["containers"][0]["volumeMounts"][0]["mountPath"] == str(volume)
    assert pod_patch["tolerations"] == [GPU_TOLERATION]

    assert (result.launcher, result.job_name, result.attempt, result.resumed_from_step) == ("trainer", name, 1, None)
    text = caplog.text
    assert text.index("Created=True") < text.index(f"pod {name}-node-0-0: Pending") < text.index(
        f"pod {name}-node-0-0: Running") < text.index("step 2 loss 0.4") < text.index("Complete=True")
    assert clock.sleeps == [5.0, 5.0]  # two polls before rank 0 ran; none after its log ended
    assert cluster.calls("DELETE") == [f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NS}/trainjobs/{name}"]


def test_failure_is_raised_with_the_pods_reason(cluster, volume):
    name = job_name(str(volume / "runs" / "zz"))
    oom = {"exitCode": 137, "reason": "OOMKilled", "message": "container used 80Gi"}
    cluster.scripts.append([
        Step([condition("Created", "JobSetCreated")], [pod(name, 0, "Running"), pod(name, 1, "Running")]),
        Step([condition("Failed", "JobSetFailed", "jobset failed: node-0 backoff limit")],
             [pod(name, 0, "Failed", terminated={**oom, "message": None, "exitCode": 1, "reason": "Error"}),
              pod(name, 1, "Failed", terminated=oom)]),
    ])
    cluster.logs[f"{name}-node-0-0"] = "Traceback ...\nRuntimeError: CUDA error\n"
    with pytest.raises(TrainJobFailed) as err:
        run(cluster, volume)
    message = str(err.value)
    assert f"TrainJob {name} failed: JobSetFailed: jobset failed: node-0 backoff limit" in message
    assert f"pod {name}-node-0-1 container node: OOMKilled (exit code 137): container used 80Gi" in message
    assert f"pod {name}-node-0-0 container node: Error (exit code 1)" in message
    assert cluster.calls("DELETE") == []  # kept for inspection; a retry replaces it


def test_a_pod_that_cannot_start_fails_fast(cluster, volume):
    name = job_name(str(volume / "runs" / "zz"))
    cluster.scripts.append([Step([condition("Created", "JobSetCreated")], [
        pod(name, 0, "Pending", waiting={"reason": "ImagePullBackOff", "message": 'pull "reg/motionlora:1": not found'})])])
    with pytest.raises(TrainJobFailed, match="ImagePullBackOff: pull"):
        run(cluster, volume)
    assert len(cluster.calls("DELETE")) == 1


def test_retry_replaces_the_failed_job_and_resumes_from_the_checkpoint(cluster, volume, caplog):
    out = volume / "runs" / "zz"
    make_checkpoint(out, 40)
    name = job_name(str(out))
    first = build_trainjob(name, NS, request(volume), settings(volume), attempt=1)
    cluster.add_job(first, [Step([condition("Failed", "JobSetFailed", "node preempted")])])
    with caplog.at_level(logging.INFO, logger="motionlora.launch"):
        result = run(cluster, volume)

    (second,) = cluster.created()
    assert second["metadata"]["annotations"]["motionlora.io/attempt"] == "2"
    assert second["spec"]["trainer"]["args"] == first["spec"]["trainer"]["args"]  # same command, same out folder
    assert errors(second) == []
    assert (result.attempt, result.resumed_from_step) == (2, 40)
    assert "resuming from checkpoint step-00000040 (step 40)" in caplog.text
    assert "failed before; replacing it (attempt 2" in caplog.text
    assert (out / "checkpoints" / "step-00000040" / "state.json").exists()  # the launcher never touches the out folder
    methods = [m for m, path, _ in cluster.requests if "/trainjobs" in path]
    assert methods[:4] == ["GET", "DELETE", "GET", "POST"]  # delete, see it gone, then re-create


def test_retry_reattaches_to_a_job_that_is_still_running(cluster, volume, caplog):
    name = job_name(str(volume / "runs" / "zz"))
    running = build_trainjob(name, NS, request(volume), settings(volume), attempt=1)
    cluster.add_job(running, [Step([condition("Created", "JobSetCreated")]),
                              Step([condition("Complete", "JobSetCompleted")])])
    with caplog.at_level(logging.INFO, logger="motionlora.launch"):
        result = run(cluster, volume)
    assert cluster.created() == []  # no second writer on the same out folder
    assert result.attempt == 1 and "reattaching to TrainJob" in caplog.text


def test_run_id_names_the_job_and_keep_job_keeps_it(cluster, volume):
    assert run(cluster, volume, run_id="pipeline-run-7", keep_job=True).job_name == job_name("pipeline-run-7")
    assert cluster.calls("DELETE") == []


def test_timeout_raises_and_cleans_up(cluster, volume):
    cluster.scripts.append([Step([condition("Created", "JobSetCreated")])])
    with pytest.raises(TimeoutError, match="did not finish within 12 s"):
        run(cluster, volume, timeout_s=12, poll_s=5)
    assert len(cluster.calls("DELETE")) == 1
