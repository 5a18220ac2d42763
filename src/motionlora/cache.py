"""Where motionlora keeps what it downloads: `$MOTIONLORA_CACHE`, else `~/.cache/motionlora`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("MOTIONLORA_CACHE", Path.home() / ".cache" / "motionlora"))
