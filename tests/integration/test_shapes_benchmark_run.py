"""The shapes benchmark end to end: the product's ingest, preprocess and training on rendered clips,
sampling, the judge and the CLIP scores, the report; a rerun after one cell file is lost recomputes
that cell only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shapesworld.benchmark import BenchmarkConfig, run_benchmark

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_run_writes_report_and_resumes_without_recomputing(tmp_path):
    # The smallest grid with every part: two regimes (leakage rows), two presets (sweep), two step
    # counts (resumed training), two variants (AH off, PLI), two scored clips per row (prompts x seeds);
    # 4 frames, the judge's minimum (shapesworld.render.MIN_FRAMES): every clip is sampled, judged and
    # trained on at half the default length, which none of the checks below depends on.
    config = BenchmarkConfig(regimes=("dual-path",), sweep_regime="one-shot", presets=("all", "tap-qk-motion"), learning_rates=(0.001,),
                             steps=(1, 2), highways=("off",), pli_taus=(500,), reference_clips=2, prompts=2, seeds=1,
                             batch_size=1, sampling_steps=2, frames=4, threads=1)
    lines: list[str] = []
    results = run_benchmark(str(REPO / "models" / "shapes"), str(REPO / "models" / "shapes-clip"), tmp_path, config, report=lines.append)
    assert len(lines) == 2 + 3 * 2 and all(line.endswith("done") or "done (trained" in line for line in lines)
    leakage = [(r["regime"], r["recipe"], r["steps"]) for r in results["leakage"]]
    assert leakage == [("dual-path", "base model", 0), ("dual-path", "all lr 0.001", 1), ("dual-path", "all lr 0.001", 2),
                       ("one-shot", "base model", 0), ("one-shot", "all lr 0.001", 1), ("one-shot", "all lr 0.001", 2)]
    base = results["leakage"][0]
    assert base["clips"] == 2 and base["clip_leakage"]["mean"] == 0.0  # the base model paired with itself
    sweep = results["sweep"]
    assert [r["preset"] for r in sweep[:2]] == ["rendered clips", "base model"]
    assert sweep[0]["motion_correct"]["mean"] == 1.0 and sweep[0]["own_motion_correct"]["mean"] == 1.0
    assert len(sweep) == 2 + 2 * 2 * len(config.variants()) and any(r["pareto"] for r in sweep[2:])
    assert json.loads((tmp_path / "results.json").read_text())["sweep"] == json.loads(json.dumps(sweep))
    assert "## Where leakage exists" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["machine"]["cpus"] >= 1 and tuple(results["config"]["steps"]) == (1, 2)

    cells = sorted((tmp_path / "cells").rglob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    lost = tmp_path / "cells" / "one-shot" / "bounce" / "tap-qk-motion" / "lr0.001" / "steps2.json"
    lost.unlink()
    again: list[str] = []
    rerun = run_benchmark(str(REPO / "models" / "shapes"), str(REPO / "models" / "shapes-clip"), tmp_path, config, report=again.append)
    assert [line for line in again if "already" not in line] == [line for line in again if line.startswith("one-shot/bounce/tap-qk-motion/lr0.001/steps2:")]
    assert len(again) == 6
    assert all(p.stat().st_mtime_ns == stamps[p] for p in cells if p != lost)
    assert rerun["sweep"] == results["sweep"]
