"""The local launcher: the request trained in this process, or under torchrun; resuming from the
out folder's newest checkpoint."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from motionlora.launch import LaunchSettings, launch_training
from motionlora.launch.local import launch_local, torchrun_command
from motionlora.tracking import TrackingOptions
from motionlora.train import OutOfMemoryHintError, TrainConfig
from motionlora.train.checkpoint import CHECKPOINTS_DIR, STATE_FILE, checkpoint_name
from motionlora.train.commands import train_argv
from motionlora.train.request import TrainRequest


def make_checkpoint(out, step: int) -> None:
    folder = out / CHECKPOINTS_DIR / checkpoint_name(step)
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text('{"step": %d}' % step)


def request(data: Path, out: Path) -> TrainRequest:
    return TrainRequest(TrainConfig(steps=3), str(data), str(out), "models/tiny", TrackingOptions(enabled=False))


def test_in_process_call_gets_the_request(tmp_path):
    calls = []
    asked = request(tmp_path / "pre", tmp_path / "run")
    result = launch_training(asked, LaunchSettings(), train_fn=calls.append)
    assert calls == [asked]
    assert (result.launcher, result.job_name, result.attempt, result.resumed_from_step) == ("local", None, 1, None)


def test_the_default_in_process_call_trains_on_the_request_values(tmp_path, monkeypatch):
    import motionlora.train.loop as loop

    seen = {}
    monkeypatch.setattr(loop, "train", lambda config, data, out, model, tracking: seen.update(
        config=config, data=data, out=out, model=model, tracking=tracking))
    asked = request(tmp_path / "pre", tmp_path / "run")
    launch_training(asked, LaunchSettings())
    assert seen == {"config": asked.config, "data": asked.data, "out": asked.out, "model": asked.model,
                    "tracking": asked.tracking}


def test_resume_is_reported_and_out_is_left_alone(tmp_path, caplog):
    out = tmp_path / "run"
    make_checkpoint(out, 5)
    make_checkpoint(out, 12)
    (out / "keep.txt").write_text("x")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with caplog.at_level(logging.INFO, logger="motionlora.launch"):
        result = launch_training(request(tmp_path / "pre", out), LaunchSettings(), train_fn=lambda r: None)
    assert result.resumed_from_step == 12
    assert "resuming from checkpoint step-00000012 (step 12)" in caplog.text
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_several_gpus_run_torchrun_with_one_process_per_gpu(tmp_path):
    seen = {}

    def fake_run(cmd, check, env):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0)

    asked = request(tmp_path / "pre", tmp_path / "o")
    launch_local(asked, LaunchSettings(gpus_per_node=4, env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"}), run=fake_run,
                 train_fn=lambda r: pytest.fail("trained in-process"))
    assert seen["cmd"] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                           "-m", "motionlora", "train", *train_argv(asked)]
    assert seen["cmd"] == torchrun_command(asked, 4)
    assert seen["env"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_failing_torchrun_raises_with_its_status(tmp_path):
    with pytest.raises(RuntimeError, match="exited with status 3"):
        launch_local(request(tmp_path / "pre", tmp_path / "o"), LaunchSettings(gpus_per_node=2),
                     run=lambda cmd, check, env: subprocess.CompletedProcess(cmd, 3))


def test_in_process_training_raises_its_own_error(tmp_path):
    def out_of_memory(asked: TrainRequest) -> None:
        raise OutOfMemoryHintError("out of memory training on cpu; lower batch_size")

    with pytest.raises(OutOfMemoryHintError, match="lower batch_size"):
        launch_training(request(tmp_path / "pre", tmp_path / "o"), LaunchSettings(), train_fn=out_of_memory)
