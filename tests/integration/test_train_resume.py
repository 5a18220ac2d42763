"""SIGKILL a real training process at a random step after its first checkpoint, run the same
command again: it resumes from the newest complete checkpoint and ends with the adapter of an
uninterrupted run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from motionlora.train.checkpoint import latest_checkpoint

pytestmark = pytest.mark.slow

STEPS = 6
# One clip a step (batch_size=1, half the default's work): what a resume must restore (weights,
# optimizer moments, schedule, RNG streams, place in the data order) is the same at any batch size.
SETTINGS = ["--set", f"steps={STEPS}", "--set", "batch_size=1", "--set", "checkpoint_every=2", "--set", "keep_checkpoints=2",
            "--no-tracking"]
KILL_AT = random.Random(20250116).randint(3, STEPS - 1)


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"training exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_killed_run_resumes_and_matches_the_uninterrupted_one(train_command, train_env, train_in_process, tmp_path):
    """Only the killed run needs a process of its own; the uninterrupted run and the rerun are the
    same command in this process (`train_in_process`)."""
    straight_out, killed_out = tmp_path / "straight", tmp_path / "killed"
    log_path = tmp_path / "killed.log"
    with log_path.open("w") as killed_log:
        victim = subprocess.Popen([sys.executable, "-m", "motionlora", *train_command(killed_out, *SETTINGS)],
                                  env=train_env, stdout=killed_log, stderr=subprocess.STDOUT)
        _wait_for(lambda: latest_checkpoint(killed_out) is not None, victim, "the first checkpoint")
        _wait_for(lambda: f"step {KILL_AT}/{STEPS}:" in log_path.read_text(), victim, f"step {KILL_AT}")
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL

    assert not (killed_out / "adapter").exists() and not (killed_out / "train_summary.json").exists()
    newest = latest_checkpoint(killed_out)[0]
    assert 2 <= newest <= KILL_AT and newest % 2 == 0

    code, log = train_in_process(*train_command(straight_out, *SETTINGS))
    assert code == 0, log[-3000:]
    code, log = train_in_process(*train_command(killed_out, *SETTINGS))
    assert code == 0, log[-3000:]
    assert f"resuming from step {newest} " in log

    expected, resumed = (load_file(out / "adapter" / "adapter_model.safetensors") for out in (straight_out, killed_out))
    assert expected.keys() == resumed.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key])
