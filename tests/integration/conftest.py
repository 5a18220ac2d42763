"""Fixtures for the integration tests: a real MLflow server, and the environment and command line
of a training run (as a subprocess, or in this process)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.servers import shared, start

# kfp's task setters (set_cpu_request, set_memory_limit, ...) each call inspect.stack(), whose cost
# grows with the number of loaded modules: defining the pipeline costs about 1 CPU-second in a
# fresh interpreter and about 5 once torch, diffusers and MLflow are loaded. The pipeline tests of
# this folder each import it, so import it here, before any test module loads those libraries. An
# error is left for those tests to report.
with contextlib.suppress(Exception):
    import pipelines.motion_customization  # noqa: F401

_DROPPED_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(scope="session")
def train_env() -> dict[str, str]:
    """Environment of training subprocesses: offline, one intra-op thread per process (the machine
    has two cores; torchrun runs two processes), no inherited MLflow or torchrun settings."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def train_command(preprocessed_dir: Path, tiny_model_dir: Path) -> Callable[..., list[str]]:
    """`motionlora train` arguments on the tiny model and data, small settings first, then `extra`."""

    def command(out: Path, *extra: str) -> list[str]:
        small = ["preset=tap-k", "rank=4", "batch_size=2", "learning_rate=0.002", "spatial_learning_rate=0.002"]
        sets = [arg for setting in small for arg in ("--set", setting)]
        return ["train", "--data", str(preprocessed_dir), "--model", str(tiny_model_dir), "--out", str(out), *sets, *extra]

    return command


@pytest.fixture
def train_in_process(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Callable[..., tuple[int, str]]:
    """`motionlora <args>` run in this process by the `main` that `python -m motionlora` runs: the
    same command without a fresh interpreter's imports (about 9 CPU-seconds of a tiny run's 15).
    Returns the exit status and the `motionlora` log lines. The environment is `train_env`'s (no
    MLflow or torchrun variables); the global RNGs, torch's thread count and the root logger are
    given back afterwards, so the tests that follow in this worker see no difference."""
    import torch

    from motionlora.cli import main
    from motionlora.train.checkpoint import capture_rng, restore_rng

    for name in _DROPPED_ENV:
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str]:
        rng, threads, root = capture_rng(), torch.get_num_threads(), logging.getLogger()
        handlers, level = list(root.handlers), root.level
        caplog.clear()
        try:
            torch.set_num_threads(1)
            with caplog.at_level(logging.INFO, logger="motionlora"):
                code = main(list(args))
        finally:
            restore_rng(rng)
            torch.set_num_threads(threads)
            root.handlers[:], root.level = handlers, level
        return code, caplog.text

    return run


@pytest.fixture(scope="session")
def mlflow_server(session_folder: Path) -> str:
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts), its URL once /health
    answers. One for the whole session, started by the first worker that asks (about 13 CPU-seconds,
    a server and its uvicorn process importing MLflow's app) and shared by the others; its process
    group is stopped when the session ends (servers.shared). The tests that use it name their own
    experiments and models, as they would on a team's server.

    Job execution is off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false): with it on, MLflow 3 starts a
    huey job runner and its consumers beside the server, processes that cost start-up time and
    memory and that no test uses (the tests track runs and register models; they run no jobs)."""

    def launch(root: Path) -> tuple[str, subprocess.Popen]:
        def command(port: int) -> list[str]:
            return [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                    "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")]

        return start(command, root, "/health", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, timeout=120)

    return shared(session_folder, "mlflow", launch)
