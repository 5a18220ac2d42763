"""The multi-node launcher: create (or reattach to) the run's TrainJob, follow it, report, clean up.

Attempt policy. The TrainJob name is derived from the run (settings.run_id, else the out folder), so
every attempt of a pipeline step looks at the same job. An existing job that is still going is
reattached to, never duplicated: two jobs writing checkpoints into one out folder would corrupt each
other. A job that completed is taken as the result. A job that failed is deleted and created again
with the same request and the same out folder, with its attempt counter raised; the trainer then
resumes from the newest checkpoint there. The launcher never writes to the out folder.

Clean-up. A completed job is deleted unless keep_job. A failed job is kept, for inspection and so
that the retry sees it and counts the attempt; the retry deletes it. A job that timed out or whose
pods cannot start (bad image, missing secret) still holds nodes and is deleted unless keep_job.
Any other error (API, network) leaves the job alone: the retried step reattaches to it.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi, V1DeleteOptions, V1Pod
from kubernetes.client.exceptions import ApiException

from motionlora.launch import pods as podinfo
from motionlora.launch.cluster import api_client as default_api_client, current_namespace
from motionlora.launch.result import LaunchResult, TrainJobFailed
from motionlora.launch.resume import resume_step
from motionlora.launch.settings import LaunchSettings
from motionlora.launch.trainjob import ATTEMPT_ANNOTATION, NODE_JOB, build_trainjob, job_name
from motionlora.launch.versions import TRAINER_API_VERSION, TRAINER_GROUP, TRAINJOB_PLURAL

if TYPE_CHECKING:
    from motionlora.train.request import TrainRequest

log = logging.getLogger(__name__)
_LOG_TAIL = 30


class _Stuck(TrainJobFailed):
    """Pods that cannot start: the job is not Failed (yet) but holds its nodes for nothing."""


class JobState(StrEnum):
    """Where a TrainJob is: its finished conditions' types as the Trainer writes them, or running."""

    COMPLETE = "Complete"
    FAILED = "Failed"
    RUNNING = "Running"


def _state(job: dict[str, Any]) -> JobState:
    """Complete, Failed or Running (anything not finished), from the TrainJob's conditions."""
    for cond in job.get("status", {}).get("conditions", []):
        if cond.get("status") == "True" and cond.get("type") in (JobState.COMPLETE, JobState.FAILED):
            return JobState(cond["type"])
    return JobState.RUNNING


def _attempt(job: dict[str, Any]) -> int:
    return int(job.get("metadata", {}).get("annotations", {}).get(ATTEMPT_ANNOTATION, "1"))


class _TrainJobs:
    """The few TrainJob and pod calls the launcher makes, on one namespace."""

    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.custom, self.core, self.namespace = CustomObjectsApi(client), CoreV1Api(client), namespace

    def _args(self) -> tuple[str, str, str, str]:
        return TRAINER_GROUP, TRAINER_API_VERSION, self.namespace, TRAINJOB_PLURAL

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(*self._args(), name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def create(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The created job, or None when one of that name appeared meanwhile (another attempt)."""
        try:
            return self.custom.create_namespaced_custom_object(*self._args(), body)
        except ApiException as err:
            if err.status == 409:
                return None
            raise

    def delete(self, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                *self._args(), name, body=V1DeleteOptions(propagation_policy="Foreground"))
        except ApiException as err:
            if err.status != 404:
                raise

    def pods(self, name: str) -> list[V1Pod]:
        return self.core.list_namespaced_pod(self.namespace, label_selector=podinfo.selector(name)).items

    def stream_log(self, pod: str) -> None:
        """Follow the pod's training log until its container ends, line by line into the log."""
        resp = self.core.read_namespaced_pod_log(pod, self.namespace, container=NODE_JOB, follow=True, _preload_content=False)
        try:
            for raw in resp:
                log.info("%s | %s", pod, raw.decode(errors="replace").rstrip("\n"))
        finally:
            resp.release_conn()

    def log_tail(self, pod: str) -> str:
        try:
            return self.core.read_namespaced_pod_log(pod, self.namespace, container=NODE_JOB, tail_lines=_LOG_TAIL)
        except ApiException:
            return ""


class _Waiter:
    """Follows one TrainJob to its end, reporting condition and pod-phase changes and rank 0's log."""

    def __init__(self, jobs: _TrainJobs, name: str, settings: LaunchSettings,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.jobs, self.name, self.settings, self.sleep, self.clock = jobs, name, settings, sleep, clock
        self.reported: set[tuple[str, str]] = set()
        self.phases: dict[str, str] = {}
        self.streamed = False

    def _report(self, job: dict[str, Any], pods: list[V1Pod]) -> None:
        for cond in job.get("status", {}).get("conditions", []):
            key = (cond.get("type", ""), cond.get("status", ""))
            if key not in self.reported:
                self.reported.add(key)
                log.info("TrainJob %s: %s=%s %s %s", self.name, *key, cond.get("reason", ""), cond.get("message", ""))
        for pod in pods:
            phase = pod.status.phase if pod.status else "Unknown"
            if self.phases.get(pod.metadata.name) != phase:
                self.phases[pod.metadata.name] = phase
                log.info("pod %s: %s", pod.metadata.name, phase)

    def _failure(self, job: dict[str, Any], pods: list[V1Pod], lines: list[str], error: type[TrainJobFailed] = TrainJobFailed) -> TrainJobFailed:
        cond = next((c for c in job.get("status", {}).get("conditions", []) if c.get("type") == JobState.FAILED), {})
        parts = [f"TrainJob {self.name} failed" + (f": {cond.get('reason')}: {cond.get('message', '')}" if cond else "")]
        parts += lines or ["no pod reported a reason"]
        first = podinfo.rank0(pods)
        tail = self.jobs.log_tail(first.metadata.name) if first is not None else ""
        if tail and not self.streamed:
            parts.append(f"last lines of {first.metadata.name}:\n{tail.rstrip()}")
        return error("\n".join(parts))

    def wait(self) -> None:
        deadline = self.clock() + self.settings.timeout_s
        while True:
            job = self.jobs.get(self.name)
            if job is None:
                raise TrainJobFailed(f"TrainJob {self.name} disappeared while running")
            pods = self.jobs.pods(self.name)
            self._report(job, pods)
            state = _state(job)
            if state == JobState.COMPLETE:
                return
            if state == JobState.FAILED:
                raise self._failure(job, pods, podinfo.failures(pods))
            if stuck := podinfo.stuck(pods):
                raise self._failure(job, pods, stuck, _Stuck)
            first = podinfo.rank0(pods)
            if not self.streamed and first is not None and first.status and first.status.phase in ("Running", "Succeeded", "Failed"):
                self.streamed = True
                self.jobs.stream_log(first.metadata.name)
                continue
            if self.clock() > deadline:
                raise TimeoutError(f"TrainJob {self.name} did not finish within {self.settings.timeout_s:.0f} s")
            self.sleep(self.settings.poll_s)


def _replace_failed(jobs: _TrainJobs, name: str, sleep: Callable[[float], None], poll_s: float) -> None:
    """Delete a failed job and wait until its name is free again (its pods gone, foreground deletion)."""
    jobs.delete(name)
    while jobs.get(name) is not None:
        sleep(poll_s)


def _stop(jobs: _TrainJobs, name: str, settings: LaunchSettings) -> None:
    """Delete the job unless asked to keep it."""
    if settings.keep_job:
        log.info("keeping TrainJob %s/%s", jobs.namespace, name)
    else:
        jobs.delete(name)


def launch_on_trainer(request: TrainRequest, settings: LaunchSettings, *, client: ApiClient | None = None,
                      sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> LaunchResult:
    """Run `request` as a TrainJob and wait for it; raise TrainJobFailed on failure."""
    namespace = settings.namespace or current_namespace()
    jobs = _TrainJobs(client or default_api_client(), namespace)
    name = job_name(settings.run_id or request.out)
    resumed = resume_step(request.out)
    existing = jobs.get(name)
    attempt = 1
    if existing is not None and _state(existing) == JobState.FAILED:
        attempt = _attempt(existing) + 1
        log.info("TrainJob %s failed before; replacing it (attempt %d, same out folder, resumes from its checkpoints)", name, attempt)
        _replace_failed(jobs, name, sleep, settings.poll_s)
        existing = None
    if existing is None:
        body = build_trainjob(name, namespace, request, settings, attempt)
        if jobs.create(body) is not None:
            log.info("created TrainJob %s/%s: %d node(s) x %d GPU(s), runtime %s", namespace, name,
                     settings.nodes, settings.gpus_per_node, settings.runtime)
        else:
            existing = jobs.get(name)
    if existing is not None:
        attempt = _attempt(existing)
        log.info("reattaching to TrainJob %s/%s (attempt %d, %s)", namespace, name, attempt, _state(existing).lower())
    try:
        _Waiter(jobs, name, settings, sleep, clock).wait()
    except (_Stuck, TimeoutError):
        _stop(jobs, name, settings)
        raise
    except TrainJobFailed:
        log.info("keeping failed TrainJob %s/%s for inspection; a retry replaces it", namespace, name)
        raise
    _stop(jobs, name, settings)
    log.info("TrainJob %s/%s completed", namespace, name)
    return LaunchResult("trainer", name, attempt, resumed)
