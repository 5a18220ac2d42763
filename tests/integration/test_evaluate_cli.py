"""`motionlora evaluate` end to end on the tiny model: files on disk and an MLflow run."""

from __future__ import annotations

import json
import re

import mlflow
import pytest

from motionlora.cli import main
from motionlora.data.video import write_video
from motionlora.evaluate.job import evaluation_config, parse_seeds
from motionlora.testing.tiny_clip import build_tiny_clip
from motionlora.models import load_t2v_model
from motionlora.motion import apply_motion_lora, save_motion_adapter
from shapesworld.render import ClipSpec, caption, render_clip


@pytest.fixture
def references(tmp_path):
    source = tmp_path / "clips"
    spec = ClipSpec(shape="triangle", color="green", background="stripes", motion="zigzag")
    rows = []
    for i in range(2):
        write_video(source / f"clip_{i}.mp4", render_clip(spec, seed=i))
        rows.append(json.dumps({"file": f"clip_{i}.mp4", "caption": caption(spec)}))
    (source / "captions.jsonl").write_text("\n".join(rows) + "\n")
    assert main(["data", "ingest", str(source), "--out", str(tmp_path / "ingested")]) == 0
    return tmp_path / "ingested"


def test_evaluate_writes_metrics_report_and_an_mlflow_run(tiny_model_dir, references, mlflow_sqlite, tmp_path, capsys):
    model = load_t2v_model(tiny_model_dir, parts=("unet",))
    apply_motion_lora(model.unet, "tap-k", rank=4)
    adapter = save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-k")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# unlike the references\na red circle on black\na blue square on white\n")
    uri = mlflow_sqlite(tmp_path)
    code = main([
        "evaluate", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--references", str(references),
        "--prompts", str(prompts), "--out", str(tmp_path / "eval"), "--seeds", "0,1", "--steps", "2", "--frames", "8", "--highway", "off",
        "--clip-model", str(build_tiny_clip(tmp_path / "clip")), "--tracking-uri", uri, "--experiment", "eval-test",
    ])
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["settings"]["prompts"] == ["a red circle on black", "a blue square on white"]
    assert metrics["aggregate"]["motion_fidelity"]["n"] == 4
    gain = metrics["aggregate"]["motion_gain"]
    assert gain == {"mean": 0.0, "ci95_low": 0.0, "ci95_high": 0.0, "n": 4}  # a zero LoRA, highway off: output == base
    assert {row["seed"] for row in metrics["per_video"]} == {0, 1}
    assert all("base_concept_motion_fidelity" in row for row in metrics["per_video"])
    report = (tmp_path / "eval" / "report.html").read_text()
    assert re.search(r"<h1>Motion adapter for \S+ \(preset tap-k, appearance highway off, β [0-9.]+\) against the base model</h1>", report)
    assert "motion learned: <b>no</b>" in report
    assert len(list((tmp_path / "eval" / "videos").glob("*.gif"))) == 8
    assert "motion_fidelity" in capsys.readouterr().out

    client = mlflow.MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("eval-test").experiment_id])
    assert run.info.status == "FINISHED"
    assert "motion_fidelity_mean" in run.data.metrics
    assert run.data.metrics["motion_gain_mean"] == 0.0 and "motion_gain_ci95_low" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "report.html", "videos"} <= artifacts


def test_settings_come_from_the_recipe_then_overrides_then_typed_settings(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("evaluate:\n  prompts: [a, b]\n  seeds: [4]\n  judge: off\n")
    config = evaluation_config(recipe, ["seeds=[5, 6]", "clip_model=clip-a"], clip_model="clip-b", prompts=["c"])
    assert (config.prompts, config.seeds, config.clip_model, config.judge) == (("c",), (5, 6), "clip-b", "off")
    with pytest.raises(ValueError, match=r"recipe.yaml:evaluate.seeds.0: must be a valid integer"):
        evaluation_config(recipe, seeds=["x"])


def test_seeds_are_comma_separated_integers():
    assert parse_seeds("0, 1,2") == (0, 1, 2) and parse_seeds("7") == (7,)
    with pytest.raises(ValueError, match="comma-separated integers like 0,1,2, got '0,a'"):
        parse_seeds("0,a")
