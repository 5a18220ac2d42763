"""The whole pipeline under kfp.local (`python -m pipelines run-local`'s code path), tracking to a
real MLflow server: one successful run shared by the module's tests, then a run with a bad source.

Every component runs here under kfp.local's SubprocessRunner; the tests look at each step's
output artifact, at MLflow (runs, metrics, report, videos, the registered model and its aliases),
and at what the runner prints.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
import yaml

from motionlora.data.video import write_video
from motionlora.registry.promotion import AliasState, consistency_problems
from pipelines.local import run_local

pytestmark = pytest.mark.slow

CONCEPT = "squares-e2e"
MODEL = f"motion-{CONCEPT}"
EXPERIMENT = "pipeline-e2e"


def sliding_square(seed: int) -> np.ndarray:
    frames = np.empty((8, 32, 32, 3), np.uint8)
    frames[:] = np.random.default_rng(seed).integers(0, 160, size=3, dtype=np.uint8)
    for i in range(8):
        frames[i, 12:20, 3 * i : 3 * i + 8] = 255
    return frames


@pytest.fixture(scope="module")
def arguments(mlflow_server, tiny_model_dir, tmp_path_factory) -> dict:
    """Pipeline arguments for a run that takes as little time as the pipeline allows, with the default
    gate: the tiny model is random, so no motion can be learned and the gate refuses (configs/tiny.yaml)."""
    from motionlora.testing.tiny_clip import build_tiny_clip

    root = tmp_path_factory.mktemp("pipeline")
    clips = root / "clips"
    for i in range(2):
        write_video(clips / f"clip_{i}.mp4", sliding_square(i))
    (clips / "captions.jsonl").write_text(
        "".join(json.dumps({"file": f"clip_{i}.mp4", "caption": "a white square slides right"}) + "\n" for i in range(2)))
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"train": {"batch_size": 1, "checkpoint_every": 1000, "dual_path": False},
                                      "sampling": {"guidance_scale": 5.0, "frames": 8}}))
    return {"source": str(clips), "dvc_repo": "", "concept": CONCEPT, "base_model": str(tiny_model_dir),
            "recipe": str(recipe), "steps": 2, "rank": 2, "eval_prompts": ["a red circle on black"], "eval_seeds": "0",
            "clip_model": str(build_tiny_clip(root / "clip")), "sampling_steps": 2, "tracking_uri": mlflow_server,
            "experiment": EXPERIMENT}


def run_pipeline(arguments: dict, pipeline_root: Path) -> SimpleNamespace:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run_local(arguments, pipeline_root=pipeline_root)
    return SimpleNamespace(code=code, printed=printed.getvalue(), root=pipeline_root)


@pytest.fixture(scope="module")
def run(arguments, tmp_path_factory) -> SimpleNamespace:
    return run_pipeline(arguments, tmp_path_factory.mktemp("kfp"))


@pytest.fixture(scope="module")
def client(mlflow_server):
    return mlflow.MlflowClient(mlflow_server)


def newest_pipeline_run(client, status=None):
    experiment = client.get_experiment_by_name(EXPERIMENT)
    chosen = f" and attributes.status = '{status}'" if status else ""
    [newest] = client.search_runs([experiment.experiment_id], "tags.`motionlora.kind` = 'pipeline'" + chosen,
                                  order_by=["attributes.start_time DESC"], max_results=1)
    return newest


def test_the_pipeline_registers_the_adapter_and_the_gate_refuses_what_learned_no_motion(run, client):
    assert run.code == 0, run.printed[-3000:]
    assert "gate failed, promotion not attempted" in run.printed
    assert f"{MODEL}: champion=none, previous-champion=none, challenger=v1" in run.printed
    assert AliasState.read(client, MODEL) == AliasState(challenger="1")
    assert consistency_problems(client, MODEL) == []
    tags = client.get_model_version(MODEL, "1").tags
    assert tags["motionlora.gate"] == "failed" and "FAIL motion_gain" in tags["motionlora.gate_reasons"]


STEPS = ["start-run", "ingest", "preprocess", "train", "evaluate", "register", "finish-run"]


def test_the_console_is_a_line_per_step_then_the_summary_and_the_rest_is_in_the_step_logs(run):
    lines = run.printed.splitlines()
    [run_dir] = run.root.glob("motion-customization-*")
    said = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert said[0] == f"step logs in {run_dir / 'logs'} (--verbose shows them here)"
    assert [line.split()[:2] for line in said if " steps (" not in line][1:] == [
        [step, event] for step in STEPS for event in ("started", "done")]
    assert said[1:].count("train 1/2 steps (50%)") == 1  # the only progress line: 2 steps, 1 video
    assert lines[len(said):][0].startswith("pipeline finished: registered")
    assert len(lines) == len(said) + 6  # the closing summary (5 lines) and the time it took
    assert "executor_input" not in run.printed and "Warning" not in run.printed
    for step in STEPS:
        assert "Got executor_input" in (run_dir / "logs" / f"{step}.log").read_text()
    assert "step 2/2: loss=" in (run_dir / "logs" / "train.log").read_text()


@pytest.mark.parametrize("task, output, expected", [
    ("ingest", "ingested", "manifest.jsonl"),
    ("preprocess", "latents", "index.json"),
    ("train", "trained", "adapter/motion.json"),
    ("evaluate", "evaluation", "metrics.json"),
    ("evaluate", "report", ""),
    ("register", "decision", ""),
])
def test_each_component_wrote_its_artifact_under_kfp_local(run, task, output, expected):
    [run_dir] = run.root.glob("motion-customization-*")
    assert (run_dir / task / output / expected).exists()


def test_mlflow_holds_the_run_tree_metrics_report_and_videos(run, client):
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("motionlora.kind") == "pipeline"]
    assert parent.info.status == "FINISHED" and parent.data.tags["motionlora.gate"] == "failed"
    assert "motionlora.promotion" not in parent.data.tags  # the gate failed: promote did not run
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert {"train", "evaluate", "register"} <= set(children)
    evaluation = children["evaluate"]
    assert {"motion_fidelity_mean", "motion_gain_mean", "motion_gain_ci95_low"} <= set(evaluation.data.metrics)
    assert {"metrics.json", "report.html", "videos"} <= {a.path for a in client.list_artifacts(evaluation.info.run_id)}
    assert client.list_artifacts(evaluation.info.run_id, "videos")
    assert "registration.md" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    # the runs list compares pipeline runs by their headline numbers, copied from the evaluation
    assert parent.data.metrics["motion_gain_mean"] == evaluation.data.metrics["motion_gain_mean"]
    assert parent.data.metrics["motion_gain_ci95_low"] == evaluation.data.metrics["motion_gain_ci95_low"]
    assert parent.data.metrics["gate_passed"] == 0.0


def test_the_challenger_is_an_mlflow_model_that_makes_videos(run, mlflow_server):
    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger")
    [video] = model.predict([{"prompt": "a red circle", "seed": 3}], params={"steps": 1})["video_mp4"]
    assert video[4:8] == b"ftyp"  # an mp4 container


def test_a_failing_step_is_named_with_its_cause_and_changes_nothing(run, arguments, client, tmp_path):
    versions = len(client.search_model_versions(f"name='{MODEL}'"))
    before = AliasState.read(client, MODEL)
    broken = tmp_path / "broken-clips"
    broken.mkdir()
    (broken / "clip_0.mp4").write_bytes(b"not a video")
    failed = run_pipeline({**arguments, "source": str(broken)}, tmp_path / "kfp")
    assert failed.code == 1
    assert "pipeline failed: step ingest failed: NotEnoughClipsError: only 0 good clip(s) in" in failed.printed
    assert "broken-clips, need at least 1" in failed.printed
    [run_dir] = failed.root.glob("motion-customization-*")
    assert "ingest FAILED after" in failed.printed and f"its log: {run_dir / 'logs' / 'ingest.log'}" in failed.printed
    assert "NotEnoughClipsError" in (run_dir / "logs" / "ingest.log").read_text()
    assert AliasState.read(client, MODEL) == before
    assert len(client.search_model_versions(f"name='{MODEL}'")) == versions
    newest = newest_pipeline_run(client)
    assert newest.info.status == "FAILED" and newest.data.tags["motionlora.failed_step"] == "ingest"


def test_a_second_run_of_the_same_work_reuses_it_and_registers_it_under_its_own_run(run, arguments, client):
    """Last in the module: it adds a run folder under `run.root` and a version to the registry."""
    first = newest_pipeline_run(client, "FINISHED")
    again = run_pipeline(arguments, run.root)
    assert again.code == 0, again.printed[-3000:]
    said = [line.split("] ", 1)[1] for line in again.printed.splitlines() if line.startswith("[")]
    for step in ("ingest", "preprocess", "train", "evaluate"):
        assert f"{step} reused from an earlier run (kfp.local cache: same component and inputs), not run again" in said
    for step in ("start-run", "register", "finish-run"):
        assert any(line.startswith(f"{step} done in") for line in said)
    assert f"{MODEL}: champion=none, previous-champion=none, challenger=v2" in again.printed
    second = newest_pipeline_run(client)
    assert second.info.run_id != first.info.run_id and second.info.status == "FINISHED"
    assert second.data.tags["motionlora.reused_from"] == first.data.tags["motionlora.pipeline_run_id"]
    origin = first.data.tags["motionlora.pipeline_run_id"]
    assert f"sample videos in the evaluate run of pipeline run {origin}, whose work this run reused" in again.printed
    assert second.data.tags["motionlora.content_key"] == first.data.tags["motionlora.content_key"]
    assert second.data.metrics["motion_gain_mean"] == first.data.metrics["motion_gain_mean"]
    children = client.search_runs([second.info.experiment_id], f"tags.`mlflow.parentRunId` = '{second.info.run_id}'")
    assert [child.info.run_name for child in children] == ["register"]  # train and evaluate stay with the first run
    assert client.get_model_version(MODEL, "2").tags["motionlora.train_run_id"] == \
        client.get_model_version(MODEL, "1").tags["motionlora.train_run_id"]
