"""Fixtures for the integration tests: a preprocessed tiny dataset, a real MLflow server, and the
environment and command line of a training subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest



@pytest.fixture(scope="session")
def train_env() -> dict[str, str]:
    """Environment of training subprocesses: offline, one intra-op thread per process (the machine
    has two cores; torchrun runs two processes), no inherited MLflow or torchrun settings."""
    drop = {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts in a temp folder);
    yields its URL once /health answers, and stops its whole process group (server, uvicorn and job
    workers) afterwards, killing it if it takes more than a few seconds to shut down."""
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not come up: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()
