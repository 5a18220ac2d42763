"""Launching `motionlora train`: on this node (in-process or torchrun) or across GPU nodes as a
Kubeflow Trainer TrainJob. Both run the same command on the same --out, so both resume alike."""

from __future__ import annotations

from typing import Sequence

from kubernetes.client import ApiClient

from motionlora.launch.local import TrainFn, launch_local, train_in_process
from motionlora.launch.result import LaunchResult, TrainJobFailed
from motionlora.launch.settings import LaunchSettings
from motionlora.launch.trainer import launch_on_trainer
from motionlora.launch.versions import TRAINER_VERSION

__all__ = ["LaunchResult", "LaunchSettings", "TRAINER_VERSION", "TrainJobFailed", "launch_training"]


def launch_training(train_args: Sequence[str], settings: LaunchSettings, *, train_fn: TrainFn = train_in_process,
                    client: ApiClient | None = None) -> LaunchResult:
    """Run `motionlora train train_args` with the launcher `settings` names.

    train_fn: what the local launcher calls in-process (default: the `motionlora train` command);
    client: the Kubernetes API client for the trainer launcher (default: in-cluster, else kubeconfig).
    """
    if settings.launcher == "trainer":
        return launch_on_trainer(train_args, settings, client=client)
    return launch_local(train_args, settings, train_fn=train_fn)
