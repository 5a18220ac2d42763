"""How the train step launches training: one typed settings object, also readable from env vars.

The cluster's choices (runtime, shared volume, image, GPU placement, MLflow address) live in the
`motionlora-launch` ConfigMap of `infra/k8s`, which pipeline steps load as environment variables;
`LaunchSettings.from_env` turns them into settings so the pipeline code does not repeat them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping, get_args

from motionlora.launch.versions import DEFAULT_RUNTIME

Launcher = Literal["local", "trainer"]

# Env vars copied into the training containers when set where the launcher runs.
FORWARDED_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "HF_HUB_OFFLINE", "HF_ENDPOINT")


@dataclass(frozen=True)
class LaunchSettings:
    """Where and how `motionlora train` runs.

    launcher: `local` runs on this node (in-process, or torchrun with gpus_per_node > 1);
        `trainer` creates a Kubeflow Trainer TrainJob and waits for it.
    nodes, gpus_per_node: TrainJob size (`numNodes`, `nvidia.com/gpu` per node); local uses gpus_per_node.
    image: container image of the training nodes (trainer only).
    namespace: where the TrainJob goes; default: this pod's namespace, else "default".
    runtime: the ClusterTrainingRuntime to use.
    pvc, mount_path: the shared volume for data and checkpoints; the data and out folders must lie under mount_path.
    run_id: names the TrainJob (default: the out folder's path). The same run_id always means the same job,
        so a retried step reattaches to, or replaces, its own job instead of starting a second writer.
    keep_job: keep the finished TrainJob (and its pods' logs) instead of deleting it.
    timeout_s, poll_s: how long to wait for the TrainJob and how often to look at it.
    env: extra env vars for the training containers; secret_env: NAME -> "secret/key" references.
    node_selector, tolerations: GPU placement of the training pods.
    resources: extra per-node resources (e.g. {"memory": "64Gi"}), besides the GPUs.
    """

    launcher: Launcher = "local"
    nodes: int = 1
    gpus_per_node: int = 0
    image: str | None = None
    namespace: str | None = None
    runtime: str = DEFAULT_RUNTIME
    pvc: str | None = None
    mount_path: str = "/data"
    run_id: str | None = None
    keep_job: bool = False
    timeout_s: float = 24 * 3600
    poll_s: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    resources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.launcher not in get_args(Launcher):
            raise ValueError(f"launcher must be 'local' or 'trainer', not {self.launcher!r}")
        if self.nodes < 1 or self.gpus_per_node < 0:
            raise ValueError(f"need nodes >= 1 and gpus_per_node >= 0 (got {self.nodes}, {self.gpus_per_node})")
        if self.launcher == "local" and self.nodes != 1:
            raise ValueError("the local launcher runs on one node; use launcher='trainer' for nodes > 1")
        if self.launcher == "trainer" and not self.image:
            raise ValueError("the trainer launcher needs an image (MOTIONLORA_IMAGE)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "LaunchSettings":
        """Settings from MOTIONLORA_* env vars (the motionlora-launch ConfigMap), then `overrides`."""
        environ = os.environ if environ is None else environ
        parsers: dict[str, Any] = {
            "launcher": str, "nodes": int, "gpus_per_node": int, "image": str, "namespace": str,
            "runtime": str, "pvc": str, "mount_path": str, "run_id": str,
            "keep_job": lambda v: v.strip().lower() in ("1", "true", "yes"),
            "timeout_s": float, "poll_s": float,
            "node_selector": json.loads, "tolerations": lambda v: tuple(json.loads(v)),
            "resources": json.loads, "secret_env": json.loads,
        }
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"MOTIONLORA_{f.name.upper()}")
            if raw and f.name in parsers:
                values[f.name] = parsers[f.name](raw)
        values["env"] = {k: environ[k] for k in FORWARDED_ENV if environ.get(k)}
        return cls(**{**values, **overrides})
