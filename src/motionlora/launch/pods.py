"""Reading a TrainJob's pods: which one is rank 0, and why one failed, in words a person can act on."""

from __future__ import annotations

from typing import Iterable, Iterator

from kubernetes.client import V1Pod

JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"  # JobSet (and so every pod) is named after the TrainJob
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# Waiting reasons that never resolve by themselves: report them instead of waiting for the timeout.
STUCK_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"})


def selector(job_name: str) -> str:
    return f"{JOBSET_NAME_LABEL}={job_name}"


def rank0(pods: Iterable[V1Pod]) -> V1Pod | None:
    """The first node's pod (completion index 0), whose log is the training log."""
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        if (pod.metadata.labels or {}).get(COMPLETION_INDEX_LABEL, "0") == "0":
            return pod
    return None


def _statuses(pod: V1Pod) -> list:
    status = pod.status
    return list(status.init_container_statuses or []) + list(status.container_statuses or []) if status else []


def _problems(pods: Iterable[V1Pod]) -> Iterator[tuple[str, bool]]:
    """(line, stuck) per failed or stuck container: pod, container, reason, exit code, message."""
    for pod in pods:
        for cs in _statuses(pod):
            term = cs.state.terminated if cs.state else None
            wait = cs.state.waiting if cs.state else None
            if term is not None and term.exit_code != 0:
                msg = f": {term.message.strip()}" if term.message else ""
                yield f"pod {pod.metadata.name} container {cs.name}: {term.reason or 'Error'} (exit code {term.exit_code}){msg}", False
            elif wait is not None and wait.reason in STUCK_REASONS:
                msg = f": {wait.message}" if wait.message else ""
                yield f"pod {pod.metadata.name} container {cs.name}: {wait.reason}{msg}", True
        if pod.status is not None and pod.status.phase == "Failed" and pod.status.reason:
            yield f"pod {pod.metadata.name}: {pod.status.reason}: {pod.status.message or ''}".rstrip(": "), False


def failures(pods: Iterable[V1Pod]) -> list[str]:
    """Every failed or stuck container, one line each."""
    return [line for line, _ in _problems(pods)]


def stuck(pods: Iterable[V1Pod]) -> list[str]:
    """Containers waiting for something that will not come (bad image, missing secret)."""
    return [line for line, is_stuck in _problems(pods) if is_stuck]
