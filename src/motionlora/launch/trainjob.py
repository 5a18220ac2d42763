"""The TrainJob a multi-node launch creates: a pure function of the train request and the settings.

Kept free of any API calls so that the exact body can be checked against the Trainer CRD's schema.
The training container runs the same command as a local launch, under torchrun, which takes its
node count, rank and rendezvous address from the PET_* variables the torch runtime sets.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import TYPE_CHECKING, Any

from motionlora.launch.settings import LaunchSettings
from motionlora.launch.versions import TRAINER_API_VERSION, TRAINER_GROUP, TRAINER_VERSION, patch_field

if TYPE_CHECKING:
    from motionlora.train.request import TrainRequest

PATCH_MANAGER = "motionlora.io/launcher"
ATTEMPT_ANNOTATION = "motionlora.io/attempt"
OUT_ANNOTATION = "motionlora.io/out"
NODE_JOB = "node"  # replicated job and container name of the Trainer torch runtime
SHARED_VOLUME = "shared"
_NAME_PREFIX = "motionlora-"
_MAX_NAME = 63  # the TrainJob CRD requires an RFC 1035 label of at most 63 characters


def job_name(run_key: str) -> str:
    """A deterministic TrainJob name for one run: readable slug of the key plus a hash of all of it."""
    digest = hashlib.sha256(run_key.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", posixpath.basename(run_key.rstrip("/")).lower()).strip("-")
    room = _MAX_NAME - len(_NAME_PREFIX) - len(digest) - 1
    slug = slug[:room].strip("-")
    return f"{_NAME_PREFIX}{slug + '-' if slug else ''}{digest}"


def training_command(request: TrainRequest) -> tuple[list[str], list[str]]:
    """(command, args) of every training node: `torchrun -m motionlora train ...`."""
    from motionlora.train.commands import train_argv

    return ["torchrun", "--module", "motionlora"], ["train", *train_argv(request)]


def _check_on_volume(request: TrainRequest, mount_path: str) -> None:
    """The data and out folders must be on the shared volume, or nodes and retries would not see them."""
    root = posixpath.normpath(mount_path)
    for what, value in (("data", request.data), ("out", request.out)):
        if not posixpath.normpath(value).startswith(root + "/"):
            raise ValueError(f"the {what} folder {value} must be under the shared volume's mount path {mount_path}")


def _env(settings: LaunchSettings) -> list[dict[str, Any]]:
    values = {
        "HOME": "/tmp",
        "MOTIONLORA_CACHE": posixpath.join(settings.mount_path, "cache", "motionlora"),
        "HF_HOME": posixpath.join(settings.mount_path, "cache", "huggingface"),
        **settings.env,
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items()]
    for name, ref in settings.secret_env.items():
        secret, _, key = ref.partition("/")
        if not secret or not key:
            raise ValueError(f"secret_env {name}={ref!r}: expected 'secret/key'")
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return sorted(env, key=lambda e: e["name"])


# Training pods run locked down like every pod of the deployment: non-root, no privilege escalation,
# no capabilities, a read-only root filesystem (scratch space in an emptyDir at /tmp, HOME=/tmp).
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
# Lets the pods through the namespace's NetworkPolicy to MLflow (infra/k8s/base/network-policy.yaml).
MLFLOW_CLIENT_LABEL = ("motionlora.io/mlflow-client", "true")


def _pod_patch(settings: LaunchSettings) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "securityContext": POD_SECURITY,
        "volumes": [{"name": SHARED_VOLUME, "persistentVolumeClaim": {"claimName": settings.pvc}},
                    {"name": "tmp", "emptyDir": {}}],
        "containers": [{"name": NODE_JOB, "securityContext": CONTAINER_SECURITY,
                        "volumeMounts": [{"name": SHARED_VOLUME, "mountPath": settings.mount_path},
                                         {"name": "tmp", "mountPath": "/tmp"}]}],
    }
    if settings.node_selector:
        pod["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        pod["tolerations"] = [dict(t) for t in settings.tolerations]
    return pod


def build_trainjob(name: str, namespace: str, request: TrainRequest, settings: LaunchSettings, attempt: int) -> dict[str, Any]:
    """The TrainJob body (Trainer v2.2 shape: pod changes go through spec.runtimePatches)."""
    if not settings.pvc:
        raise ValueError("the trainer launcher needs a shared volume (pvc) for the data, out folder and checkpoints")
    _check_on_volume(request, settings.mount_path)
    command, args = training_command(request)
    per_node = {**settings.resources, **({"nvidia.com/gpu": str(settings.gpus_per_node)} if settings.gpus_per_node else {})}
    trainer: dict[str, Any] = {
        "image": settings.image, "command": command, "args": args, "env": _env(settings), "numNodes": settings.nodes,
    }
    if settings.gpus_per_node:
        trainer["numProcPerNode"] = settings.gpus_per_node
    if per_node:
        trainer["resourcesPerNode"] = {"limits": per_node, "requests": dict(per_node)}
    patch = {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
            {"name": NODE_JOB, "template": {"spec": {"template": {"metadata": {"labels": dict([MLFLOW_CLIENT_LABEL])},
                                                                  "spec": _pod_patch(settings)}}}},
        ]}}},
    }
    return {
        "apiVersion": f"{TRAINER_GROUP}/{TRAINER_API_VERSION}",
        "kind": "TrainJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "motionlora", "app.kubernetes.io/component": "train"},
            "annotations": {
                ATTEMPT_ANNOTATION: str(attempt),
                OUT_ANNOTATION: request.out,
                "motionlora.io/trainer-version": TRAINER_VERSION,
            },
        },
        "spec": {
            "runtimeRef": {"apiGroup": TRAINER_GROUP, "kind": "ClusterTrainingRuntime", "name": settings.runtime},
            "trainer": trainer,
            patch_field(): [patch],
        },
    }
