"""`make bench-gpu`'s whole --tiny run on the CPU (benchmarks/gpu.py): the AnimateDiff model's train
and sample parts and the torchrun part, every entry written to --out, nothing to
benchmarks/results.json."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.unit.helpers import load_script

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RESULTS_JSON = REPO / "benchmarks" / "results.json"


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module, whose writes to benchmarks/results.json fail the test."""
    module = load_script(REPO / "benchmarks" / "gpu.py", "bench_gpu")

    def refuse(*args, **kwargs):
        raise AssertionError(f"record{args[:1]} called: this run must not write benchmarks/results.json")

    monkeypatch.setattr(module, "record", refuse)
    return module


def gpu_entries() -> dict:
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    return {k: v for k, v in results.items() if k.startswith("gpu_") or k.endswith("_identical_weights")}


def test_tiny_run_writes_its_entries_to_out_only(gpu: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The AnimateDiff model (train, sample) and the torchrun part, at tiny sizes: every entry in
    --out with machine and date, nothing in benchmarks/results.json."""
    before = gpu_entries()
    out = tmp_path / "tiny.json"
    assert gpu.main(["--tiny", "--models", "animatediff", "--peak-tflops", "1", "--out", str(out)]) == 0
    assert gpu_entries() == before

    entries = json.loads(out.read_text())
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    assert set(entries) == {"gpu_train_speedup_vs_reference", "gpu_train_peak_memory_gb", "gpu_train_mfu",
                            "gpu_train_minutes_per_concept", "gpu_sample_speedup_vs_diffusers", f"{backend}_identical_weights"}
    for entry in entries.values():
        assert entry["machine"]["torch"] == torch.__version__ and entry["date"] and entry["tiny"] is True
        assert entry["value"] > 0 and entry["device"]
    train = entries["gpu_train_speedup_vs_reference"]["per_model"]["animatediff"]
    ours, no_checkpointing = "ours, checkpointing", "ours, no checkpointing"
    assert set(train["ms_per_step"]) == {"reference recipe as released", ours, no_checkpointing}
    assert train["peak_gb"][ours] < train["peak_gb"][no_checkpointing]  # checkpointing keeps fewer activations
    assert entries["gpu_train_peak_memory_gb"]["value"] == pytest.approx(train["peak_gb"][ours], abs=1e-3)
    minutes = entries["gpu_train_minutes_per_concept"]["value"]
    assert minutes == pytest.approx(train["steps_per_concept"] * train["ms_per_step"][ours] / 60000, rel=1e-3)
    sample = entries["gpu_sample_speedup_vs_diffusers"]["per_model"]["animatediff"]
    assert sample["pipeline"] == "AnimateDiffPipeline" and sample["latents_max_abs_difference"] <= sample["latents_relative_tolerance"] * sample["latents_max_abs"]
    assert entries[f"{backend}_identical_weights"]["runs"][0]["backend"] == backend

    printed = capsys.readouterr().out
    assert "| animatediff | sample speed-up vs diffusers |" in printed and "parts done" in printed
