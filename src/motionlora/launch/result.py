"""What a launch returns, and the error a failed TrainJob raises."""

from __future__ import annotations

from dataclasses import dataclass

from motionlora.launch.settings import Launcher


@dataclass(frozen=True)
class LaunchResult:
    """launcher: "local" or "trainer"; job_name: the TrainJob (trainer only);
    attempt: how many TrainJobs this run has created (1 on a first launch);
    resumed_from_step: the checkpoint step training continued from, when the launcher could see the out folder."""

    launcher: Launcher
    job_name: str | None
    attempt: int
    resumed_from_step: int | None


class TrainJobFailed(RuntimeError):
    """A TrainJob ended Failed (or its pods cannot start); the message names the pod-level reason."""
