"""`torchrun --nproc-per-node 2` (gloo, CPU) trains with the ranks bit-identical after every step,
and ends where one process with the same global batch ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

STEPS = ["--set", "steps=5", "--set", "checkpoint_every=5", "--no-tracking"]


def _torchrun() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_two_ranks_stay_in_sync_and_match_one_process(train_command, train_env, tmp_path):
    two, one = tmp_path / "two-ranks", tmp_path / "one-process"
    ranks_cmd = [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "motionlora",
                 *train_command(two, *STEPS, "--set", "batch_size=1", "--set", "debug_check_sync=true")]
    single_cmd = [sys.executable, "-m", "motionlora", *train_command(one, *STEPS)]
    with (tmp_path / "ranks.log").open("w") as ranks_log, (tmp_path / "single.log").open("w") as single_log:
        ranks = subprocess.Popen(ranks_cmd, env=train_env, stdout=ranks_log, stderr=subprocess.STDOUT)
        single = subprocess.Popen(single_cmd, env=train_env, stdout=single_log, stderr=subprocess.STDOUT)
        codes = ranks.wait(timeout=400), single.wait(timeout=400)
    assert codes == (0, 0), (tmp_path / "ranks.log").read_text()[-3000:] + (tmp_path / "single.log").read_text()[-3000:]

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
