"""benchmarks/gpu.py (`make bench-gpu`), checked on the CPU at tiny sizes: the skip without CUDA,
the latent comparison of the sampling part, the meta-device FLOP count, and where results go (a
whole --tiny run: tests/integration/test_gpu_bench_run.py)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from types import ModuleType

import pytest
import torch
from helpers import load_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu.py"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def gpu() -> ModuleType:
    return load_script(SCRIPT, "bench_gpu")


@pytest.fixture
def no_record(gpu: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any write to benchmarks/results.json fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"record{args[:1]} called: this run must not write benchmarks/results.json")

    monkeypatch.setattr(gpu, "record", refuse)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available: the script runs instead of skipping")
def test_without_cuda_it_prints_one_line_and_exits_0(gpu: ModuleType, capsys: pytest.CaptureFixture) -> None:
    assert gpu.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "skipped" in lines[0] and "no CUDA device" in lines[0]


def test_sampling_check_compares_the_pipelines_latents(gpu: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ours and TextToVideoSDPipeline agree from the same noise; given other noise the pipeline's
    latents differ and the check fails."""
    spec = gpu.TINY_SPECS["zeroscope"]
    model = gpu.build_model(spec, CPU, torch.float32)
    pipe = gpu.diffusers_pipeline(model)
    config = gpu.sampling_config(spec, steps=2)
    match = gpu.compare_latents(model, pipe, config, gpu.Precision(CPU))
    assert match.ok and match.max_abs_latent > 0

    drawn = gpu.initial_noise
    monkeypatch.setattr(gpu, "initial_noise", lambda model, config, seed: drawn(model, config, seed + 1))
    with pytest.raises(gpu.SamplingMismatch, match="final latents differ"):
        gpu.compare_latents(model, pipe, config, gpu.Precision(CPU))


def test_a_sampling_mismatch_fails_its_part_and_the_run(gpu: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    drawn = gpu.initial_noise
    monkeypatch.setattr(gpu, "initial_noise", lambda model, config, seed: drawn(model, config, seed + 1))
    out = tmp_path / "tiny.json"
    assert gpu.main(["--tiny", "--models", "zeroscope", "--parts", "sample", "--out", str(out)]) == 1
    assert "| - | zeroscope sample | FAILED | SamplingMismatch: final latents differ" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.slow
def test_meta_flop_count_equals_the_count_of_a_real_run(gpu: ModuleType) -> None:
    """What the GPU run divides by its step time: counted on meta tensors, the same as on real ones
    (the temporal path alone, so the meta run stays short)."""
    spec = gpu.TINY_SPECS["zeroscope"]
    config = dataclasses.replace(gpu.our_config(gpu.Precision(CPU), checkpointing=True), dual_path=False)
    meta = gpu.step_flops(spec, config, "meta")
    assert meta > 0 and meta == gpu.step_flops(spec, config, CPU)


def test_bf16_peak_by_device_name(gpu: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, peak in (("NVIDIA H200", 989.4), ("NVIDIA H200 NVL", 835.5), ("NVIDIA H100 PCIe", 756.5),
                       ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0), ("cpu", None)):
        monkeypatch.setattr(gpu, "device_name", lambda device, name=name: name)
        assert gpu.bf16_peak_tflops(CPU) == peak


def results(gpu: ModuleType, tiny: bool, out: Path | None):
    """Results holding made-up measurements of every part (two NCCL runs: 1 and 2 GPUs)."""
    found = gpu.Results(argparse.Namespace(out=out, tiny=tiny), gpu.TINY_SPECS, CPU, peak_tflops=100.0)
    seconds = {gpu.TrainResult.REFERENCE: 2.0, gpu.TrainResult.ours(True): 1.0, gpu.TrainResult.ours(False): 0.5}
    found.train["zeroscope"] = gpu.TrainResult(seconds, {label: 2**30 for label in seconds}, {}, flops=10**12, steps_per_concept=400)
    found.sample["zeroscope"] = gpu.SampleResult(1.0, 1.5, "TextToVideoSDPipeline", gpu.LatentMatch(0.01, 2.0, 1.6e-2), steps=25)
    found.ddp = [{"processes": n, "backend": "nccl", "samples_per_s": rate, "weights_identical": True} for n, rate in ((1, 2.0), (2, 3.6))]
    return found


def test_a_tiny_run_without_out_writes_nothing(gpu: ModuleType, no_record: None) -> None:
    results(gpu, tiny=True, out=None).flush()  # no_record fails the test on any write


def test_a_full_run_records_every_key_in_results_json(gpu: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = {}
    monkeypatch.setattr(gpu, "record", lambda name, value, model, details: recorded.setdefault(name, (value, details)))
    results(gpu, tiny=False, out=None).flush()
    values = {name: value for name, (value, _) in recorded.items()}
    assert values == pytest.approx({
        "gpu_train_speedup_vs_reference": 2.0, "gpu_train_peak_memory_gb": 1.0, "gpu_train_minutes_per_concept": 400 / 60,
        "gpu_train_mfu": 1e12 / 1.0 / 100e12, "gpu_sample_speedup_vs_diffusers": 1.5, "nccl_identical_weights": 1.0,
        "gpu_ddp_scaling": 1.8,
    })
    for _, details in recorded.values():
        assert details["torch"] == torch.__version__ and details["device"] == "cpu" and "cuda" in details


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: bf16 sampling parity on the GPU")
def test_bf16_sampling_matches_diffusers_on_cuda(gpu: ModuleType) -> None:
    device = torch.device("cuda", 0)
    for spec in gpu.TINY_SPECS.values():
        model = gpu.build_model(spec, device, torch.bfloat16)
        match = gpu.compare_latents(model, gpu.diffusers_pipeline(model), gpu.sampling_config(spec, steps=3), gpu.Precision(device))
        assert match.ok
