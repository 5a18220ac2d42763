"""Shared by the benchmark scripts: a description of the machine, and `results.json` upkeep.

`results.json` holds one entry per named result (the latest run wins), each with the model, the
machine and the date, so numbers are never separated from where they came from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

RESULTS_JSON = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    """CPU/GPU, core count, torch threads and library versions of this process."""
    import diffusers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
    }


def record(name: str, value: float, model: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store result `name` in results.json (replacing an older one) and return the entry."""
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    entry = {
        "value": round(float(value), 4),
        "model": model,
        "machine": machine(),
        "date": dt.date.today().isoformat(),
        **(details or {}),
    }
    results[name] = entry
    RESULTS_JSON.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return entry
