"""The local launcher: in-process call or torchrun, resuming from --out's newest checkpoint."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from motionlora.launch import LaunchSettings, launch_training
from motionlora.launch.local import launch_local, torchrun_command
from motionlora.train.checkpoint import CHECKPOINTS_DIR, STATE_FILE, checkpoint_name


def make_checkpoint(out, step: int) -> None:
    folder = out / CHECKPOINTS_DIR / checkpoint_name(step)
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text('{"step": %d}' % step)


def test_in_process_call_gets_the_train_args(tmp_path):
    calls = []
    args = ["--data", str(tmp_path / "pre"), "--out", str(tmp_path / "run")]
    result = launch_training(args, LaunchSettings(), train_fn=lambda a: calls.append(a) or 0)
    assert calls == [args]
    assert (result.launcher, result.job_name, result.attempt, result.resumed_from_step) == ("local", None, 1, None)


def test_resume_is_reported_and_out_is_left_alone(tmp_path, caplog):
    out = tmp_path / "run"
    make_checkpoint(out, 5)
    make_checkpoint(out, 12)
    (out / "keep.txt").write_text("x")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with caplog.at_level(logging.INFO, logger="motionlora.launch"):
        result = launch_training(["--out", str(out)], LaunchSettings(), train_fn=lambda a: 0)
    assert result.resumed_from_step == 12
    assert "resuming from checkpoint step-00000012 (step 12)" in caplog.text
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_several_gpus_run_torchrun_with_one_process_per_gpu(tmp_path):
    seen = {}

    def fake_run(cmd, check, env):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0)

    args = ["--config", "configs/tiny.yaml", "--data", "d", "--out", str(tmp_path / "o")]
    launch_local(args, LaunchSettings(gpus_per_node=4, env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"}), run=fake_run)
    assert seen["cmd"] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                           "-m", "motionlora", "train", *args]
    assert seen["cmd"] == torchrun_command(args, 4)
    assert seen["env"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_failing_training_raises_with_its_status(tmp_path):
    with pytest.raises(RuntimeError, match="exited with status 3"):
        launch_training(["--out", str(tmp_path)], LaunchSettings(), train_fn=lambda a: 3)


def test_out_is_required():
    with pytest.raises(ValueError, match="need --out"):
        launch_training(["--data", "d"], LaunchSettings(), train_fn=lambda a: 0)
