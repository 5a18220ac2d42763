"""benchmarks/zeroscope_memory.py's method, checked where it can run for real: a tiny UNet3D on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "zeroscope_memory.py"


@pytest.fixture(scope="module")
def memory() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zeroscope_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["FP32", "BF16"])
def test_meta_estimate_matches_real_cpu_counts(memory: ModuleType, precision: str) -> None:
    """Meta-tensor saved bytes equal the real ones, and both estimates are within 10% of the real
    peak of live tensor bytes (below it: gradients in flight are not counted)."""
    check = memory.validate(getattr(memory, precision), frames=4, latent_size=8)
    ratios = check.ratios()
    assert ratios["meta saved / real saved"] == pytest.approx(1.0, abs=0.01)
    for name, ratio in ratios.items():
        assert 0.9 <= ratio <= 1.01, name
