"""`torchrun --nproc-per-node 2` (gloo, CPU) trains with the ranks bit-identical after every step,
and ends where one process with the same global batch ends; a NaN on one rank stops both."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.unit.helpers import poisoned_copy

pytestmark = pytest.mark.slow

STEPS = ["--set", "steps=5", "--set", "checkpoint_every=5", "--no-tracking"]


def _torchrun() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


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
    assert [row["step"] for row in sync] == [1, 2, 3, 4, 5]
    assert all(len(row["digests"]) == 2 and len(set(row["digests"])) == 1 for row in sync)
    assert len({row["digests"][0] for row in sync}) == 5

    summaries = [json.loads((out / "train_summary.json").read_text()) for out in (two, one)]
    assert [(s["world_size"], s["global_batch"]) for s in summaries] == [(2, 2), (1, 2)]
    assert summaries[0]["final_metrics"]["loss"] == pytest.approx(summaries[1]["final_metrics"]["loss"], rel=1e-4)

    adapters = [load_file(out / "adapter" / "adapter_model.safetensors") for out in (two, one)]
    assert adapters[0].keys() == adapters[1].keys()
    for key in adapters[0]:
        torch.testing.assert_close(adapters[0][key], adapters[1][key], rtol=1e-4, atol=1e-5)
    assert any(adapters[1][k].abs().max() > 1e-3 for k in adapters[1] if "lora_B" in k)

    rng = load_file(two / "checkpoints" / "step-00000005" / "rng.safetensors")
    assert not torch.equal(rng["rank0.torch"], rng["rank1.torch"])


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(train_command, train_env, preprocessed_dir, tmp_path):
    """With batch_size=1 each rank trains on one of the two clips; only one clip is poisoned. The
    check runs on all-reduced values, so both ranks stop at step 1 with exit status 4 and the same
    one-line error (with a rank-local check the clean rank would die in the next all-reduce instead).
    The ranks are started directly with torchrun's variables: torchrun kills the others when the
    first one exits, which would hide how they end."""
    data, _ = poisoned_copy(preprocessed_dir, tmp_path / "poisoned", float("nan"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "motionlora", *train_command(out, *STEPS, "--set", "batch_size=1", "--data", str(data))]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**train_env, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    logs = [tmp_path / f"rank{r}.log" for r in range(2)]
    with logs[0].open("w") as log0, logs[1].open("w") as log1:
        ranks = [subprocess.Popen(command, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stderr=log)
                 for r, log in enumerate((log0, log1))]
        codes = [rank.wait(timeout=300) for rank in ranks]
    for code, err in zip(codes, (log.read_text() for log in logs)):
        errors = [line for line in err.splitlines() if line.startswith("motionlora train: error:")]
        assert code == 4 and "Traceback" not in err and len(errors) == 1, err[-3000:]
        assert errors[0].startswith("motionlora train: error: step 1: the loss is not finite (loss_mse=nan"), errors
    assert not (out / "adapter").exists() and not (out / "checkpoints").exists()
