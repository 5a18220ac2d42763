"""Checkpoints: no pickles, atomic folders, exact optimizer and RNG round trips, pruning, finite only."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from motionlora.finite import NonFiniteTensorError
from motionlora.train import checkpoint as ckpt


def _adam_after(steps: int, start: dict | None = None, first: int = 0) -> tuple[torch.nn.Parameter, torch.optim.AdamW]:
    param = torch.nn.Parameter(torch.linspace(-1, 1, 6))
    optimizer = torch.optim.AdamW([param], lr=0.1)
    if start is not None:
        with torch.no_grad():
            param.copy_(start["param"])
        optimizer.load_state_dict(start["optimizer"])
    for i in range(first, first + steps):
        (param.pow(2).sum() * (i + 1)).backward()
        optimizer.step()
        optimizer.zero_grad()
    return param, optimizer


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    param, optimizer = _adam_after(3)
    path = ckpt.save_checkpoint(tmp_path, 3, {"p": param.detach()}, optimizer.state_dict(), [ckpt.capture_rng()], {"note": "x"})
    loaded = ckpt.load_checkpoint(path, rank=0)
    assert sorted(p.name for p in path.iterdir()) == ["lora.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"]
    assert loaded.step == 3 and loaded.state["note"] == "x" and loaded.state["world_size"] == 1
    resumed, _ = _adam_after(2, {"param": loaded.lora["p"], "optimizer": loaded.optimizer}, first=3)
    straight, _ = _adam_after(5)
    torch.testing.assert_close(resumed, straight, rtol=0, atol=0)


def test_rng_states_round_trip():
    state = ckpt.capture_rng()
    first = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    ckpt.restore_rng(state)
    again = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2:] == again[2:]


def test_only_complete_checkpoints_count_and_stale_ones_are_removed(tmp_path):
    for step in (2, 4, 6):
        ckpt.save_checkpoint(tmp_path, step, {"w": torch.zeros(1)}, {"state": {}, "param_groups": []}, [ckpt.capture_rng()], {})
    half = tmp_path / "checkpoints" / ".tmp-step-00000008"
    half.mkdir()
    (half / "lora.safetensors").write_bytes(b"partial")
    incomplete = tmp_path / "checkpoints" / "step-00000010"
    incomplete.mkdir()
    assert ckpt.latest_checkpoint(tmp_path)[0] == 6
    ckpt.remove_stale(tmp_path)
    assert not half.exists()
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert [step for step, _ in ckpt.list_checkpoints(tmp_path)] == [4, 6]
    assert ckpt.latest_checkpoint(tmp_path / "nothing") is None


def test_rng_of_each_rank_is_kept(tmp_path):
    torch.manual_seed(1)
    rank0 = ckpt.capture_rng()
    torch.manual_seed(2)
    rank1 = ckpt.capture_rng()
    path = ckpt.save_checkpoint(tmp_path, 1, {"w": torch.zeros(1)}, {"state": {}, "param_groups": []}, [rank0, rank1], {})
    assert torch.equal(ckpt.load_checkpoint(path, 1).rng["torch"], rank1["torch"])
    assert ckpt.load_checkpoint(path, 2).rng == {}


@pytest.mark.parametrize("name", ["lora.safetensors", "optimizer.safetensors", "rng.safetensors"])
def test_tensor_files_are_safetensors(tmp_path, name):
    from safetensors import safe_open

    param, optimizer = _adam_after(1)
    path = ckpt.save_checkpoint(tmp_path, 1, {"p": param.detach()}, optimizer.state_dict(), [ckpt.capture_rng()], {})
    with safe_open(str(path / name), "pt") as fh:
        assert list(fh.keys())


@pytest.mark.parametrize(("name", "part"), [("lora.safetensors", "lora"), ("optimizer.safetensors", "optimizer")])
def test_a_non_finite_checkpoint_is_never_written(tmp_path, name, part):
    param, optimizer = _adam_after(1)
    state = optimizer.state_dict()
    lora = {"p": param.detach().clone()}
    if part == "lora":
        lora["p"][2] = float("inf")
    else:
        state["state"][0]["exp_avg_sq"][2] = float("nan")
    tensor = "p" if part == "lora" else "0.exp_avg_sq"
    expected = f"{tmp_path / 'checkpoints' / 'step-00000001' / name}: refusing to write it: tensor {tensor!r} holds NaN or infinite values"
    with pytest.raises(NonFiniteTensorError, match=re.escape(expected)):
        ckpt.save_checkpoint(tmp_path, 1, lora, state, [ckpt.capture_rng()], {})
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(("name", "tensor"), [("lora.safetensors", "p"), ("optimizer.safetensors", "0.exp_avg")])
def test_a_checkpoint_holding_a_nan_is_refused_on_load_naming_file_and_tensor(tmp_path, name, tensor):
    param, optimizer = _adam_after(2)
    path = ckpt.save_checkpoint(tmp_path, 2, {"p": param.detach()}, optimizer.state_dict(), [ckpt.capture_rng()], {})
    tensors = load_file(path / name)
    tensors[tensor][0] = float("nan")
    save_file(tensors, path / name)
    expected = (f"{path / name}: refusing to resume from it: tensor {tensor!r} holds NaN or infinite values; "
                f"delete {path} to resume from the checkpoint before it")
    with pytest.raises(NonFiniteTensorError, match=re.escape(expected)):
        ckpt.load_checkpoint(path, rank=0)
