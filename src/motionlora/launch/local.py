"""The one-node launcher: training as a call in this process, or under torchrun for several GPUs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Callable

from motionlora.launch.result import LaunchResult
from motionlora.launch.resume import resume_step
from motionlora.launch.settings import LaunchSettings

if TYPE_CHECKING:
    from motionlora.train.request import TrainRequest

log = logging.getLogger(__name__)

TrainFn = Callable[["TrainRequest"], object]


def train_in_process(request: TrainRequest) -> None:
    """`motionlora.train.train` on the request's values; its errors (out of memory, a non-finite
    loss, bad data) propagate as they are."""
    from motionlora.train.loop import train

    train(request.config, request.data, request.out, model=request.model, tracking=request.tracking)


def torchrun_command(request: TrainRequest, gpus: int) -> list[str]:
    """torchrun (as `python -m torch.distributed.run`, so this venv's one) with one process per GPU."""
    from motionlora.train.commands import train_argv

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}",
            "-m", "motionlora", "train", *train_argv(request)]


def launch_local(request: TrainRequest, settings: LaunchSettings, *, train_fn: TrainFn = train_in_process,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> LaunchResult:
    """Train on this node; raise RuntimeError when torchrun exits non-zero."""
    resumed = resume_step(request.out)
    if settings.gpus_per_node > 1:
        cmd = torchrun_command(request, settings.gpus_per_node)
        log.info("running %s", " ".join(cmd))
        code = run(cmd, check=False, env={**os.environ, **settings.env}).returncode
        if code:
            raise RuntimeError(f"motionlora train exited with status {code}")
    else:
        train_fn(request)
    return LaunchResult("local", None, 1, resumed)
