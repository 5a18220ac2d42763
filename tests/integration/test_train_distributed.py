"""`torchrun --nproc-per-node 2` (gloo, CPU) trains with the ranks bit-identical after every step,
and ends where one process with the same global batch ends; a NaN on one rank stops both."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file

from tests.integration.servers import free_port
from tests.unit.helpers import poisoned_copy

pytestmark = pytest.mark.slow

# Three steps: every step is checked for sync, and the weights change at each of them.
STEPS = ["--set", "steps=3", "--set", "checkpoint_every=3", "--no-tracking"]


def _torchrun() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


def _in_a_thread(function: Callable[..., tuple[int, str]], *args: str) -> Callable[[float], tuple[int, str]]:
    """Start `function(*args)` in a daemon thread; the returned `wait(timeout)` gives its result (or
    raises its exception), and fails the test if it is still running after `timeout` seconds (a
    rank waiting forever for a peer then fails the test instead of hanging it)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = function(*args)
        except BaseException as err:  # noqa: BLE001 - re-raised in wait()
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def wait(timeout: float) -> tuple[int, str]:
        thread.join(timeout)
        if thread.is_alive():
            pytest.fail(f"still running after {timeout} s")
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["result"]  # type: ignore[return-value]

    return wait


def test_two_ranks_stay_in_sync_and_match_one_process(train_command, train_env, train_in_process, tmp_path):
    """The one process is the same command run in this process (`train_in_process`) while the ranks run."""
    two, one = tmp_path / "two-ranks", tmp_path / "one-process"
    ranks_cmd = [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "motionlora",
                 *train_command(two, *STEPS, "--set", "batch_size=1", "--set", "debug_check_sync=true")]
    with (tmp_path / "ranks.log").open("w") as ranks_log:
        ranks = subprocess.Popen(ranks_cmd, env=train_env, stdout=ranks_log, stderr=subprocess.STDOUT)
        try:
            single, single_log = train_in_process(*train_command(one, *STEPS))
            codes = ranks.wait(timeout=400), single
        finally:
            if ranks.poll() is None:
                ranks.terminate()  # torchrun passes SIGTERM on to its ranks
                ranks.wait()
    assert codes == (0, 0), (tmp_path / "ranks.log").read_text()[-3000:] + single_log[-3000:]

    sync = [json.loads(line) for line in (two / "debug" / "sync.jsonl").read_text().splitlines()]
    assert [row["step"] for row in sync] == [1, 2, 3]
    assert all(len(row["digests"]) == 2 and len(set(row["digests"])) == 1 for row in sync)
    assert len({row["digests"][0] for row in sync}) == 3

    summaries = [json.loads((out / "train_summary.json").read_text()) for out in (two, one)]
    assert [(s["world_size"], s["global_batch"]) for s in summaries] == [(2, 2), (1, 2)]
    assert summaries[0]["final_metrics"]["loss"] == pytest.approx(summaries[1]["final_metrics"]["loss"], rel=1e-4)

    adapters = [load_file(out / "adapter" / "adapter_model.safetensors") for out in (two, one)]
    assert adapters[0].keys() == adapters[1].keys()
    for key in adapters[0]:
        torch.testing.assert_close(adapters[0][key], adapters[1][key], rtol=1e-4, atol=1e-5)
    assert any(adapters[1][k].abs().max() > 1e-3 for k in adapters[1] if "lora_B" in k)

    rng = load_file(two / "checkpoints" / "step-00000003" / "rng.safetensors")
    assert not torch.equal(rng["rank0.torch"], rng["rank1.torch"])


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(train_command, train_env, train_in_process, preprocessed_dir,
                                                             capsys, monkeypatch, tmp_path):
    """With batch_size=1 each rank trains on one of the two clips; only one clip is poisoned. The
    check runs on all-reduced values, so both ranks stop at step 1 with exit status 4 and the same
    one-line error (with a rank-local check the clean rank would die in the next all-reduce instead).
    The ranks are started directly with torchrun's variables: torchrun kills the others when the
    first one exits, which would hide how they end. Rank 1 is a process of its own; rank 0 is the
    same command in this process (`train_in_process`), in a thread, so that a rank left waiting for
    its peer fails the test instead of hanging it."""
    data, _ = poisoned_copy(preprocessed_dir, tmp_path / "poisoned", float("nan"))
    out = tmp_path / "out"
    args = train_command(out, *STEPS, "--set", "batch_size=1", "--data", str(data))
    job = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    log_path = tmp_path / "rank1.log"
    with log_path.open("w") as log:
        rank1 = subprocess.Popen([sys.executable, "-m", "motionlora", *args], stderr=log,
                                 env={**train_env, **job, "RANK": "1", "LOCAL_RANK": "1"})
        try:
            for name, value in {**job, "RANK": "0", "LOCAL_RANK": "0"}.items():
                monkeypatch.setenv(name, value)
            code0, log0 = _in_a_thread(train_in_process, *args)(300)
            code1 = rank1.wait(timeout=300)
        finally:
            if rank1.poll() is None:
                rank1.kill()
                rank1.wait()
    ends = {"rank 0": (code0, capsys.readouterr().err + log0), "rank 1": (code1, log_path.read_text())}
    for rank, (code, err) in ends.items():
        errors = [line for line in err.splitlines() if line.startswith("motionlora train: error:")]
        assert code == 4 and "Traceback" not in err and len(errors) == 1, f"{rank}: {err[-3000:]}"
        assert errors[0].startswith("motionlora train: error: step 1: the loss is not finite (loss_mse=nan"), errors
    assert not (out / "adapter").exists() and not (out / "checkpoints").exists()
