"""A local HTTP server process for a test: started on a free loopback port, waited for until its
readiness endpoint answers, and stopped with its whole process group (a server's workers too)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest


_SERVER_STATE = ".server.json"  # what `shared` records of each server it started


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


def start(command: Callable[[int], list[str]], root: Path, ready: str, env: Mapping[str, str] | None = None,
          timeout: float = 180) -> tuple[str, subprocess.Popen]:
    """Run `command(port)` in `root` (its output in `root/server.log`) as the leader of a new process
    group; return its URL, once `URL + ready` answers 200, and the process. Fail the test with the
    log's tail if it exits or `timeout` passes."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command(port), cwd=root, env={**os.environ, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not answers(url + ready):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process.pid)
            process.wait()
            pytest.fail(f"{' '.join(command(port)[:4])} did not come up: {log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return url, process


def stop(pid: int, grace: float = 5) -> None:
    """SIGTERM the process group that `pid` leads, wait up to `grace` seconds for `pid` to exit, then
    SIGKILL the group. Works from any process, not only the server's parent (a pidfd waits on it)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        select.select([pidfd], [], [], grace)
    finally:
        os.close(pidfd)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@contextmanager
def serving(command: Callable[[int], list[str]], root: Path, ready: str, env: Mapping[str, str] | None = None,
            timeout: float = 180) -> Iterator[str]:
    """`start` the server, yield its URL, `stop` it."""
    url, process = start(command, root, ready, env, timeout)
    try:
        yield url
    finally:
        stop(process.pid)
        process.wait()


def shared(folder: Path, name: str, launch: Callable[[Path], tuple[str, subprocess.Popen]]) -> str:
    """The URL of the server `name` that every worker of this test session shares: the first worker
    to ask runs `launch(folder / name)` (`start`'s URL and process) under a file lock and records the
    URL and the pid; the others read them. `stop_shared` stops them all when the
    session ends (the controller's pytest_unconfigure), since no worker knows it is the last user."""
    with (folder / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = folder / f"{name}{_SERVER_STATE}"
        if not state.exists():
            root = folder / name
            root.mkdir()
            url, process = launch(root)
            state.write_text(json.dumps({"url": url, "pid": process.pid}))
        return json.loads(state.read_text())["url"]


def stop_shared(folder: Path) -> None:
    """Stop every server that `shared` started in `folder`."""
    for state in folder.glob(f"*{_SERVER_STATE}"):
        stop(json.loads(state.read_text())["pid"])
