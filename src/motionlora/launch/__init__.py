"""Launching training: on this node (in-process or torchrun) or across GPU nodes as a Kubeflow
Trainer TrainJob. Both run the same `TrainRequest` on the same out folder, so both resume alike.

Importing this package does not load torch (README's install commands read `versions` through it):
the launchers import the training modules when they launch, and name them only for type checking."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes.client import ApiClient

from motionlora.launch.local import TrainFn, launch_local, train_in_process
from motionlora.launch.result import LaunchResult, TrainJobFailed
from motionlora.launch.settings import LaunchSettings
from motionlora.launch.trainer import launch_on_trainer
from motionlora.launch.versions import TRAINER_VERSION

if TYPE_CHECKING:
    from motionlora.train.request import TrainRequest

__all__ = ["LaunchResult", "LaunchSettings", "TRAINER_VERSION", "TrainJobFailed", "launch_training"]


def launch_training(request: TrainRequest, settings: LaunchSettings, *, train_fn: TrainFn = train_in_process,
                    client: ApiClient | None = None) -> LaunchResult:
    """Run `request` with the launcher `settings` names.

    train_fn: what the local launcher calls in-process (default: `motionlora.train.train`);
    client: the Kubernetes API client for the trainer launcher (default: in-cluster, else kubeconfig).
    """
    if settings.launcher == "trainer":
        return launch_on_trainer(request, settings, client=client)
    return launch_local(request, settings, train_fn=train_fn)
