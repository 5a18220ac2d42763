"""The one-node launcher: `motionlora train` in this process, or under torchrun for several GPUs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Callable, Sequence

from motionlora.launch.result import LaunchResult
from motionlora.launch.resume import resume_step
from motionlora.launch.settings import LaunchSettings

log = logging.getLogger(__name__)

TrainFn = Callable[[list[str]], int]


def train_in_process(train_args: list[str]) -> int:
    """`motionlora train ...` as a function call (exit status)."""
    from motionlora.cli import main

    return main(["train", *train_args])


def torchrun_command(train_args: Sequence[str], gpus: int) -> list[str]:
    """torchrun (as `python -m torch.distributed.run`, so this venv's one) with one process per GPU."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}",
            "-m", "motionlora", "train", *train_args]


def launch_local(train_args: Sequence[str], settings: LaunchSettings, *, train_fn: TrainFn = train_in_process,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> LaunchResult:
    """Train on this node; raise RuntimeError when training exits non-zero."""
    resumed = resume_step(train_args)
    if settings.gpus_per_node > 1:
        cmd = torchrun_command(train_args, settings.gpus_per_node)
        log.info("running %s", " ".join(cmd))
        code = run(cmd, check=False, env={**os.environ, **settings.env}).returncode
    else:
        code = train_fn(list(train_args))
    if code:
        raise RuntimeError(f"motionlora train exited with status {code}")
    return LaunchResult("local", None, 1, resumed)
