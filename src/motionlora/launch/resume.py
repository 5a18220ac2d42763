"""What a launch resumes from: the newest checkpoint in the run's out folder.

The trainer (`motionlora.train`) resumes by itself from the newest complete checkpoint in its out
folder. A launcher therefore never touches that folder: it keeps the same path on every attempt and
only reports what the trainer will find there, so a retry visibly continues instead of silently
restarting.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def resume_step(out_dir: str | Path) -> int | None:
    """The step of the newest complete checkpoint in `out_dir`, when it is visible from here; logs it."""
    from motionlora.train.checkpoint import latest_checkpoint  # torch-heavy: only when launching

    out = Path(out_dir)
    if not out.is_dir():
        log.info("out folder %s is not visible from the launcher; the trainer resumes from its newest checkpoint", out)
        return None
    latest = latest_checkpoint(out)
    if latest is None:
        log.info("no checkpoint in %s: training starts at step 0", out)
        return None
    step, path = latest
    log.info("resuming from checkpoint %s (step %d) in %s", path.name, step, out)
    return step
