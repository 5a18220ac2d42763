"""A local HTTP server process for a test: started on a free loopback port, waited for until its
readiness endpoint answers, and stopped with its whole process group (a server's workers too)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def serving(command: Callable[[int], list[str]], root: Path, ready: str, env: Mapping[str, str] | None = None,
            timeout: float = 180) -> Iterator[str]:
    """Run `command(port)` in `root` (its output in `root/server.log`) and yield its URL once
    `URL + ready` answers 200; fail the test with the log's tail if it exits or `timeout` passes."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command(port), cwd=root, env={**os.environ, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not answers(url + ready):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command(port)[:4])} did not come up: {log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
