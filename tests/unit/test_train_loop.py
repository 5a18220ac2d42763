"""`train` end to end on the tiny model, in-process: the adapter it writes, resuming, and the errors
a user can run into (data from another model, empty data, bad settings, out of memory, NaN or inf)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import fresh_model, poisoned_copy

from motionlora import cli
from motionlora.config import load_config
from motionlora.motion.adapter import load_motion_adapter
from motionlora.motion.adapter_info import MotionAdapterInfo
from motionlora.tracking import TrackingOptions
from motionlora.train import NonFiniteTrainingError, OutOfMemoryHintError, Trainer, TrainConfig, train
from motionlora.train.checkpoint import capture_rng, list_checkpoints, restore_rng

SMALL = ["preset=tap-k", "rank=4", "steps=3", "batch_size=2", "checkpoint_every=2", "highway_scope=deepest", "highway_beta=1.2"]
OFF = TrackingOptions(enabled=False)


def _config(*overrides: str) -> TrainConfig:
    return load_config(TrainConfig, None, "train", [*SMALL, *overrides])


@pytest.fixture(autouse=True)
def _keep_global_rng():
    """train() seeds the global RNGs (each rank's own stream); give other tests theirs back."""
    state = capture_rng()
    yield
    restore_rng(state)


@pytest.fixture(scope="module")
def trained(preprocessed_dir: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    state = capture_rng()
    result = train(_config(), preprocessed_dir, tmp_path_factory.mktemp("train-run") / "out", model=str(tiny_model_dir), tracking=OFF)
    restore_rng(state)
    return result


@pytest.mark.slow
def test_adapter_holds_only_the_motion_lora_and_records_its_base(trained, tiny_model_dir, preprocessed_dir):
    info = MotionAdapterInfo.read(trained.adapter_dir)
    base = fresh_model(tiny_model_dir, ("unet",))
    assert info.base_model == base.identity.to_dict()
    assert (info.preset, info.rank, info.highway_scope, info.highway_beta) == ("tap-k", 4, "deepest", 1.2)
    weights = load_file(trained.adapter_dir / "adapter_model.safetensors")
    assert weights and all(".to_k.lora_" in k and (".temp_attentions." in k or k.startswith("transformer_in.")) for k in weights)
    assert load_motion_adapter(base.unet, trained.adapter_dir, base.identity).preset == "tap-k"
    summary = json.loads((trained.out_dir / "train_summary.json").read_text())
    index = json.loads((preprocessed_dir / "index.json").read_text())
    assert (summary["steps"], summary["resumed_from"], summary["world_size"], summary["global_batch"]) == (3, None, 1, 2)
    assert summary["data"]["content_hash"] == index["content_hash"] and summary["mlflow"] is None
    assert summary["final_metrics"]["loss"] > 0 and summary["peak_memory_mb"] > 0
    assert [step for step, _ in list_checkpoints(trained.out_dir)] == [2]


@pytest.mark.slow
def test_rerun_resumes_from_the_checkpoint_and_ends_with_the_same_adapter(trained, preprocessed_dir, tiny_model_dir, tmp_path, caplog):
    out = tmp_path / "again"
    shutil.copytree(trained.out_dir / "checkpoints", out / "checkpoints")
    with caplog.at_level("INFO", logger="motionlora.train"):
        again = train(_config(), preprocessed_dir, out, model=str(tiny_model_dir), tracking=OFF)
    assert "resuming from step 2" in caplog.text
    assert again.summary["resumed_from"] == 2 and again.summary["steps_this_run"] == 1
    first, second = (load_file(r.adapter_dir / "adapter_model.safetensors") for r in (trained, again))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_resume_refuses_settings_that_change_the_math(trained, preprocessed_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(trained.out_dir / "checkpoints", out / "checkpoints")
    with pytest.raises(ValueError, match=r"settings changed \(learning_rate: 0.0005 -> 0.1\)"):
        train(_config("learning_rate=0.1"), preprocessed_dir, out, model=str(tiny_model_dir), tracking=OFF)


def _edited_copy(preprocessed_dir: Path, tmp_path: Path, **changes) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(preprocessed_dir, copy)
    index = json.loads((copy / "index.json").read_text())
    for key, value in changes.items():
        index[key] = value(index[key]) if callable(value) else value
    (copy / "index.json").write_text(json.dumps(index))
    return copy


def test_data_from_another_base_model_is_refused(preprocessed_dir, tiny_model_dir, tmp_path):
    data = _edited_copy(preprocessed_dir, tmp_path, model=lambda m: {**m, "source": "models/other", "weights_sha256": "ab" * 32})
    with pytest.raises(ValueError, match=r"preprocessed with base model models/other \(weights hash abababababab\).*preprocess the clips again"):
        train(_config(), data, tmp_path / "out", model=str(tiny_model_dir), tracking=OFF)


def test_empty_data_is_refused(preprocessed_dir, tiny_model_dir, tmp_path):
    data = _edited_copy(preprocessed_dir, tmp_path, num_clips=0, shards=[])
    with pytest.raises(ValueError, match="lists no clips"):
        train(_config(), data, tmp_path / "out", model=str(tiny_model_dir), tracking=OFF)


def _cli(*argv: str) -> int:
    return cli.main(["train", *argv])


def test_out_of_memory_is_reported_with_a_hint(preprocessed_dir, tiny_model_dir, tmp_path, monkeypatch, capsys):
    def exhausted(self, batches):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "step", exhausted)
    code = _cli("--data", str(preprocessed_dir), "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir), "--no-tracking", "--set", "rank=4")
    err = capsys.readouterr().err
    assert code == 3 and "step 1: out of memory" in err
    assert "lower batch_size (now 1)" in err and "gradient_checkpointing=true" in err


@pytest.mark.slow
def test_cpu_allocation_failure_counts_as_out_of_memory_but_other_errors_pass(preprocessed_dir, tiny_model_dir, tmp_path, monkeypatch):
    errors = iter([RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
                   RuntimeError("mat1 and mat2 shapes cannot be multiplied")])

    def failing(self, batches):
        raise next(errors)

    monkeypatch.setattr(Trainer, "step", failing)
    with pytest.raises(OutOfMemoryHintError, match="gradient_accumulation"):
        train(_config(), preprocessed_dir, tmp_path / "a", model=str(tiny_model_dir), tracking=OFF)
    with pytest.raises(RuntimeError, match="mat1 and mat2") as info:
        train(_config(), preprocessed_dir, tmp_path / "b", model=str(tiny_model_dir), tracking=OFF)
    assert not isinstance(info.value, OutOfMemoryHintError)


@pytest.mark.parametrize(
    ("with_model", "flags", "message"),
    [(True, ["--set", "rnak=4"], r"unknown key\(s\) \['rnak'\]; valid keys: \['ad_beta'"),
     (True, ["--set", "mixed_precision=bf16"], "mixed_precision=bf16 needs a CUDA GPU"),
     (True, ["--set", "learning_rate=.nan"], r"defaults:train\.learning_rate: must be a finite number, got nan$"),
     (False, [], "no base model: pass --model")],
)
def test_cli_errors_name_the_problem(preprocessed_dir, tiny_model_dir, tmp_path, capsys, with_model, flags, message):
    model = ["--model", str(tiny_model_dir)] if with_model else []
    code = _cli("--data", str(preprocessed_dir), "--out", str(tmp_path / "out"), "--no-tracking", *model, *flags)
    assert code == 2
    assert re.search(message, capsys.readouterr().err)


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def _sets(*settings: str) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


@pytest.mark.slow
def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_keeps_the_last_checkpoint(preprocessed_dir, tiny_model_dir, tmp_path, capsys):
    """spatial_learning_rate=1e10 blows the spatial LoRA (it is on the attention outputs) up in one
    step: step 1 is finite and checkpointed, step 2's loss is NaN."""
    diverging = ("spatial_learning_rate=1e10", "checkpoint_every=1")
    first = train(_config(*diverging, "steps=1"), preprocessed_dir, tmp_path / "first", model=str(tiny_model_dir), tracking=OFF)
    out = tmp_path / "out"
    shutil.copytree(first.out_dir / "checkpoints", out / "checkpoints")
    kept = out / "checkpoints" / "step-00000001"
    before = _digests(kept)

    code = _cli("--data", str(preprocessed_dir), "--out", str(out), "--model", str(tiny_model_dir), "--no-tracking",
                *_sets(*SMALL, *diverging))
    err = capsys.readouterr().err
    assert code == 4
    [line] = err.splitlines()
    assert re.fullmatch(r"motionlora train: error: step 2: the loss is not finite \(loss_mse=nan, loss_spatial=nan\); "
                        r"stopped without saving anything of this step \(checkpoints already in --out are kept\); "
                        r"likely cause: a learning rate too high \(learning_rate=0\.0005, spatial_learning_rate=1e\+10\); "
                        r"change that and train into a fresh --out", line), line
    assert _digests(kept) == before
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [kept.name]
    assert not (out / "adapter").exists() and not (out / "train_summary.json").exists()


@pytest.mark.slow
def test_bad_data_met_after_a_resume_stops_the_run_naming_the_step_and_the_clip(trained, preprocessed_dir, tiny_model_dir, tmp_path):
    data, clip = poisoned_copy(preprocessed_dir, tmp_path / "poisoned", float("inf"))
    out = tmp_path / "out"
    shutil.copytree(trained.out_dir / "checkpoints", out / "checkpoints")
    message = rf"^step 3: the loss is not finite \(loss_mse=(nan|inf).*likely cause: bad data: clip\(s\) {clip} in {re.escape(str(data))} "
    with pytest.raises(NonFiniteTrainingError, match=message):
        train(_config("checkpoint_every=1"), data, out, model=str(tiny_model_dir), tracking=OFF)
    assert [step for step, _ in list_checkpoints(out)] == [2] and not (out / "adapter").exists()


@pytest.mark.slow
def test_weights_found_non_finite_where_they_would_be_saved_stop_the_run(preprocessed_dir, tiny_model_dir, tmp_path, monkeypatch):
    """A NaN can reach the weights without the loss showing it (on the CPU, attention drops NaN
    keys, and TAP-k's motion LoRA is on the keys); the weights are checked before every save."""
    real = Trainer._optimizer_step

    def poisoning(self):
        real(self)
        with torch.no_grad():
            self.motion_params[0].fill_(float("nan"))

    monkeypatch.setattr(Trainer, "_optimizer_step", poisoning)
    out = tmp_path / "out"
    with pytest.raises(NonFiniteTrainingError, match=r"^step 1: the training state is not finite: tensor '[^']*\.lora_A\.[^']*' holds NaN or infinite values; stopped"):
        train(_config("steps=1", "checkpoint_every=1"), preprocessed_dir, out, model=str(tiny_model_dir), tracking=OFF)
    assert list_checkpoints(out) == [] and not (out / "adapter").exists()


EVERY_STEP = ("steps=2", "checkpoint_every=1")


@pytest.fixture(scope="module")
def whole(preprocessed_dir: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """An undisturbed 2-step run with a checkpoint at each step (the tests damage copies of them)."""
    state = capture_rng()
    result = train(_config(*EVERY_STEP), preprocessed_dir, tmp_path_factory.mktemp("whole") / "out", model=str(tiny_model_dir), tracking=OFF)
    restore_rng(state)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["nan", "truncated"])
def test_resume_skips_a_broken_checkpoint_for_the_newest_intact_one(whole, preprocessed_dir, tiny_model_dir, tmp_path, caplog, damage):
    """The newest checkpoint holds a NaN, or was cut short on disk: the run resumes from the one
    before it, says which it skipped, and ends with the adapter of the undisturbed run."""
    out = tmp_path / "out"
    shutil.copytree(whole.out_dir / "checkpoints", out / "checkpoints")
    lora = out / "checkpoints" / "step-00000002" / "lora.safetensors"
    if damage == "nan":
        tensors = load_file(lora)
        tensors[sorted(tensors)[0]][0] = float("nan")
        save_file(tensors, lora)
    else:
        lora.write_bytes(lora.read_bytes()[: lora.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="motionlora.train.loop"):
        resumed = train(_config(*EVERY_STEP), preprocessed_dir, out, model=str(tiny_model_dir), tracking=OFF)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "broken" in r.getMessage()]
    assert warning.startswith(f"checkpoint {lora.parent} is broken (")
    assert resumed.summary["resumed_from"] == 1
    assert (resumed.adapter_dir / "adapter_model.safetensors").read_bytes() == (whole.adapter_dir / "adapter_model.safetensors").read_bytes()
