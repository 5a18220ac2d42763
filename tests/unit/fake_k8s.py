"""An in-process fake of the few Kubernetes API endpoints the Trainer launcher uses, over real HTTP.

The real `kubernetes` client talks to it: create/get/list/delete TrainJobs, list pods by label, read
a pod's log. Time does not exist here: each GET of a TrainJob moves it one step along its script
(conditions + pods), so a test sees every transition deterministically and nothing sleeps.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes.client import ApiClient, Configuration

JOBS = re.compile(r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/([^/]+)/trainjobs(?:/([^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods$")
LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"


@dataclass
class Step:
    """One observed state of a TrainJob: its conditions and its pods (Kubernetes JSON)."""

    conditions: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)


def condition(kind: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


def pod(job: str, index: int, phase: str, *, terminated: dict | None = None, waiting: dict | None = None) -> dict[str, Any]:
    """A TrainJob node pod as JobSet names and labels it; `terminated`/`waiting` set the node container's state."""
    state = {"terminated": terminated} if terminated else {"waiting": waiting} if waiting else {"running": {}}
    return {
        "metadata": {"name": f"{job}-node-0-{index}", "labels": {
            JOBSET_LABEL: job, "batch.kubernetes.io/job-completion-index": str(index)}},
        "status": {"phase": phase, "containerStatuses": [
            {"name": "node", "ready": phase == "Running", "restartCount": 0, "image": "img", "imageID": "",
             "state": state}]},
    }


class FakeCluster:
    """The fake API server. `scripts` holds the steps each newly created TrainJob goes through, in order."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.steps: dict[tuple[str, str], list[Step]] = {}
        self.gets: dict[tuple[str, str], int] = {}
        self.scripts: list[list[Step]] = []
        self.logs: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    # -- test-facing API ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def client(self) -> ApiClient:
        return ApiClient(Configuration(host=self.url))

    def add_job(self, body: dict[str, Any], steps: list[Step]) -> None:
        """A TrainJob that exists before the launcher runs (a previous attempt's)."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        self.jobs[key], self.steps[key], self.gets[key] = copy.deepcopy(body), steps, 0

    def created(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.requests if method == "POST"]

    def calls(self, method: str) -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    def __enter__(self) -> "FakeCluster":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- server side ---------------------------------------------------------------------------------
    def _current(self, key: tuple[str, str]) -> Step:
        steps = self.steps[key]
        return steps[min(max(self.gets[key] - 1, 0), len(steps) - 1)]

    def _handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if m := JOBS.match(path):
            ns, name = m.groups()
            key = (ns, name or (body or {}).get("metadata", {}).get("name", ""))
            if method == "POST":
                if key in self.jobs:
                    return 409, _status(409, "AlreadyExists", f'trainjobs "{key[1]}" already exists')
                stored = {**copy.deepcopy(body), "status": {}}
                stored["metadata"] = {**stored["metadata"], "uid": f"uid-{len(self.requests)}"}
                self.add_job(stored, self.scripts.pop(0) if self.scripts else [Step([condition("Complete", "JobSetCompleted")])])
                return 201, stored
            if key not in self.jobs:
                return 404, _status(404, "NotFound", f'trainjobs "{name}" not found')
            if method == "DELETE":
                del self.jobs[key]
                return 200, _status(200, "Success", "deleted")
            step = self.steps[key][min(self.gets[key], len(self.steps[key]) - 1)]
            self.gets[key] += 1
            return 200, {**self.jobs[key], "status": {"conditions": step.conditions}}
        if m := PODS.match(path):
            ns = m.group(1)
            job = query.get("labelSelector", [""])[0].removeprefix(f"{JOBSET_LABEL}=")
            items = self._current((ns, job)).pods if (ns, job) in self.jobs else []
            return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}
        if m := LOG.match(path):
            text = self.logs.get(m.group(2), "")
            if "tailLines" in query:
                text = "\n".join(text.splitlines()[-int(query["tailLines"][0]):]) + "\n"
            return 200, text
        return 404, _status(404, "NotFound", path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, payload = cluster._handle(self.command, url.path, parse_qs(url.query), body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        return Handler


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure" if code >= 400 else "Success",
            "code": code, "reason": reason, "message": message}
