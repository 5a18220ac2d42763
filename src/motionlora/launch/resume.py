"""What a launch resumes from: the --out folder of the train command and its newest checkpoint.

The trainer (`motionlora.train`) resumes by itself from the newest complete checkpoint in --out.
A launcher therefore never touches --out: it keeps the same path on every attempt and only reports
what the trainer will find there, so a retry visibly continues instead of silently restarting.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)


def flag_value(train_args: Sequence[str], flag: str) -> str | None:
    """The value of `--flag VALUE` or `--flag=VALUE`; the last one wins, as with argparse."""
    value = None
    for i, arg in enumerate(train_args):
        if arg == flag and i + 1 < len(train_args):
            value = train_args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def out_dir(train_args: Sequence[str]) -> str:
    """The --out folder; every launch needs one, since resuming depends on it."""
    out = flag_value(train_args, "--out")
    if not out:
        raise ValueError("the train arguments need --out DIR (checkpoints and resumption live there)")
    return out


def resume_step(train_args: Sequence[str]) -> int | None:
    """The step of the newest complete checkpoint in --out, when --out is visible from here; logs it."""
    from motionlora.train.checkpoint import latest_checkpoint  # torch-heavy: only when launching

    out = Path(out_dir(train_args))
    if not out.is_dir():
        log.info("--out %s is not visible from the launcher; the trainer resumes from its newest checkpoint", out)
        return None
    latest = latest_checkpoint(out)
    if latest is None:
        log.info("no checkpoint in %s: training starts at step 0", out)
        return None
    step, path = latest
    log.info("resuming from checkpoint %s (step %d) in %s", path.name, step, out)
    return step
