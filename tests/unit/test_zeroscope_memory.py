"""benchmarks/zeroscope_memory.py's method, checked where it can run for real: a tiny UNet3D on the CPU."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "zeroscope_memory.py"


@pytest.fixture(scope="module")
def memory() -> ModuleType:
    return load_script(SCRIPT, "zeroscope_memory")


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
