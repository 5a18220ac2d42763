"""A training run against a real `mlflow server`: nested under a parent run, with the resolved
config and provenance as params, the loss curve, validation gifs and the adapter as artifacts."""

from __future__ import annotations

import json

import pytest

from motionlora.data.decode import decode_clip

pytestmark = pytest.mark.slow


def test_run_holds_params_loss_curve_and_validation_gif(mlflow_server, train_command, train_in_process, preprocessed_dir,
                                                       monkeypatch, tmp_path):
    """The run is `motionlora train` in this process (`train_in_process`): the server is what is
    under test, not the process. Three steps with validation_every=2 validate on schedule (step 2)
    and at the end (step 3)."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.create_experiment("train-integration")
    parent = client.create_run(experiment, run_name="pipeline").info.run_id
    out = tmp_path / "run"
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    # The run sets MLflow's tracking URI for its process (and MLFLOW_TRACKING_URI); both are put back afterwards.
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    cmd = train_command(out, "--set", "steps=3", "--set", "batch_size=1", "--set", "checkpoint_every=3",
                        "--set", "validation_every=2", "--set", "validation_sampling_steps=1",
                        "--set", 'validation_prompts=["a white square slides right"]',
                        "--tracking-uri", mlflow_server, "--parent-run-id", parent)
    code, log = train_in_process(*cmd)
    assert code == 0, log[-3000:]

    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 1
    run = children[0]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"

    index = json.loads((preprocessed_dir / "index.json").read_text())
    params = run.data.params
    assert (params["train.rank"], params["train.preset"], params["train.steps"], params["world_size"]) == ("4", "tap-k", "3", "1")
    assert params["base_model.weights_sha256"] == index["model"]["weights_sha256"]
    assert params["data.content_hash"] == index["content_hash"]
    assert params["train.validation_prompts"] == "a white square slides right" and "git_commit" in params

    loss = client.get_metric_history(run.info.run_id, "loss")
    summary = json.loads((out / "train_summary.json").read_text())
    assert [m.step for m in loss] == [1, 2, 3] and loss[-1].value == pytest.approx(summary["final_metrics"]["loss"], rel=1e-6)
    assert {"lr", "samples_per_s", "peak_memory_mb", "loss_spatial"} <= set(run.data.metrics)

    steps = sorted(a.path for a in client.list_artifacts(run.info.run_id, "validation"))
    assert steps == ["validation/step-00000002", "validation/step-00000003"]
    gif = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="validation/step-00000003/prompt-0.gif",
                                              tracking_uri=mlflow_server, dst_path=str(tmp_path / "downloaded"))
    video = decode_clip(gif)
    assert video.num_frames == 4 and video.size == (16, 16)

    adapter = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/motion.json"} <= adapter
    assert summary["mlflow"] == {"tracking_uri": mlflow_server, "run_id": run.info.run_id}
