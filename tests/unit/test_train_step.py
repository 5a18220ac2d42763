"""The optimizer step on the tiny model: it learns, touches only LoRA weights, routes each path's
gradient to its own adapter, and refuses to step on a NaN or infinity."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import fresh_model

from motionlora.train.config import TrainConfig
from motionlora.train.distributed import DistContext
from motionlora.train.losses import draw_noise, frame_difference_loss, training_scheduler
from motionlora.train.step import MicroBatch, NonFiniteStepError, Trainer, add_training_adapters, precision_dtype

CPU = DistContext(0, 1, 0, torch.device("cpu"))


def _trainer(model_dir, **settings) -> Trainer:
    config = TrainConfig(**{"preset": "tap-k", "rank": 4, "learning_rate": 0.002, "spatial_learning_rate": 0.002, **settings})
    model = fresh_model(model_dir, ("unet", "scheduler"))
    add_training_adapters(model.unet, config)
    return Trainer(model.unet, training_scheduler(model.scheduler.config), config, CPU)


def _batch(seeds: list[int], frames: int = 4) -> MicroBatch:
    generator = torch.Generator().manual_seed(seeds[0])
    latents = torch.randn((len(seeds), 4, frames, 8, 8), generator=generator)
    text = torch.randn((len(seeds), 16, 32), generator=generator)
    return MicroBatch(latents, text, draw_noise(seeds, (4, frames, 8, 8), 1000))


def _cat(a: MicroBatch, b: MicroBatch) -> MicroBatch:
    noise = type(a.noise)(*(torch.cat([getattr(a.noise, f.name), getattr(b.noise, f.name)]) for f in dataclasses.fields(a.noise)))
    return MicroBatch(torch.cat([a.latents, b.latents]), torch.cat([a.text, b.text]), noise)


def _base_weights(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in unet.named_parameters() if "lora_" not in n}


@pytest.mark.slow
def test_loss_falls_on_a_repeated_batch_and_only_lora_weights_change(tiny_model_dir):
    trainer = _trainer(tiny_model_dir, learning_rate=0.05, spatial_learning_rate=0.05)
    base = _base_weights(trainer.unet)
    lora = {n: p.detach().clone() for n, p in zip(trainer.names, trainer.params)}
    batch = _batch([1, 2])
    history = [trainer.step([batch]) for _ in range(10)]
    losses, spatial = [m["loss"] for m in history], [m["loss_spatial"] for m in history]
    for curve in (losses, spatial):
        fifths = [sum(curve[i : i + 2]) / 2 for i in range(0, 10, 2)]
        assert fifths == sorted(fifths, reverse=True) and curve[-1] < 0.9 * curve[0], curve
    after = _base_weights(trainer.unet)
    assert after.keys() == base.keys() and all(torch.equal(after[n], base[n]) for n in base)
    assert all(p.grad is None for n, p in trainer.unet.named_parameters() if "lora_" not in n)
    changed = {n for n, p in zip(trainer.names, trainer.params) if not torch.equal(p, lora[n])}
    assert changed == set(trainer.names)
    assert any(".motion." in n for n in changed) and any(".spatial." in n for n in changed)


@pytest.mark.slow
def test_each_path_trains_only_its_own_adapter(tiny_model_dir):
    trainer = _trainer(tiny_model_dir)
    batch = _batch([3, 4])
    trainer.spatial_path(batch)
    assert all(p.grad is None for p in trainer.motion_params)
    assert all(p.grad is not None for p in trainer.spatial_params)
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.temporal_path(batch)
    assert all(p.grad is None for p in trainer.spatial_params)
    assert all(p.grad is not None for p in trainer.motion_params)
    assert any(p.grad.abs().sum() > 0 for p in trainer.motion_params)


@pytest.mark.slow
def test_gradient_checkpointing_computes_the_same_gradients(tiny_model_dir):
    plain, checkpointed = _trainer(tiny_model_dir), _trainer(tiny_model_dir, gradient_checkpointing=True)
    batch = _batch([5, 6])
    for trainer in (plain, checkpointed):
        trainer.spatial_path(batch)
        trainer.temporal_path(batch)
    for a, b in zip(plain.params, checkpointed.params):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_gradient_accumulation_equals_the_larger_batch(tiny_model_dir):
    accumulated, whole = _trainer(tiny_model_dir), _trainer(tiny_model_dir)
    first, second = _batch([7]), _batch([8])
    for _ in range(2):
        a = accumulated.step([first, second])
        b = whole.step([_cat(first, second)])
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for p, q in zip(accumulated.params, whole.params):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_single_path_with_ad_loss(tiny_model_dir):
    trainer = _trainer(tiny_model_dir, dual_path=False, ad_loss=True)
    assert trainer.spatial_params == [] and not any(".spatial." in n for n, _ in trainer.unet.named_parameters())
    metrics = trainer.step([_batch([9, 10])])
    assert "loss_spatial" not in metrics and metrics["loss_ad"] > 0
    assert metrics["loss"] == pytest.approx(metrics["loss_mse"] + metrics["loss_ad"])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_is_refused_on_the_cpu(precision):
    with pytest.raises(ValueError, match=f"mixed_precision={precision} needs a CUDA GPU.*mixed_precision=no"):
        precision_dtype(precision, torch.device("cpu"))
    assert precision_dtype("no", torch.device("cpu")) == torch.float32


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["tiny_model_dir", "tiny_animatediff_dir"])
def test_folding_the_frozen_spatial_lora_trains_the_same_weights(backbone, request):
    """fold_spatial_lora only changes float rounding: same losses and LoRA weights over several steps,
    and the base weights are the very tensors they were (nothing drifts)."""
    model_dir = request.getfixturevalue(backbone)
    folded, unfolded = _trainer(model_dir), _trainer(model_dir, fold_spatial_lora=False)
    base_tensors = {n: p for n, p in folded.unet.named_parameters() if "lora_" not in n}
    base_values = _base_weights(folded.unet)
    for seed in range(3):
        a, b = folded.step([_batch([seed, seed + 10])]), unfolded.step([_batch([seed, seed + 10])])
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["loss_spatial"] == pytest.approx(b["loss_spatial"], rel=1e-5)
    for p, q in zip(folded.params, unfolded.params):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    assert all(p is base_tensors[n] for n, p in folded.unet.named_parameters() if "lora_" not in n)
    assert all(torch.equal(p, base_values[n]) for n, p in base_tensors.items())
    assert [p.requires_grad for p in folded.params] == [q.requires_grad for q in unfolded.params]


def test_torch_compile_option_compiles_the_unet_forward_in_place(tiny_model_dir):
    eager, compiled = _trainer(tiny_model_dir), _trainer(tiny_model_dir, torch_compile=True)
    assert compiled.unet._compiled_call_impl is not None and eager.unet._compiled_call_impl is None
    assert [n for n, _ in compiled.unet.named_parameters()] == [n for n, _ in eager.unet.named_parameters()]


def _infinite_gradient(trainer: Trainer) -> None:
    """Make one motion LoRA weight's gradient infinite while the loss stays finite."""
    trainer.motion_params[0].register_hook(lambda grad: grad + float("inf"))


def test_a_non_finite_gradient_stops_the_step_before_the_weights_change(tiny_model_dir):
    trainer = _trainer(tiny_model_dir)
    before = {n: p.detach().clone() for n, p in zip(trainer.names, trainer.params)}
    _infinite_gradient(trainer)
    with pytest.raises(NonFiniteStepError, match=r"^the gradient norm is inf although the loss is finite \(loss_mse=\d"):
        trainer.step([_batch([1, 2])])
    assert all(torch.equal(p, before[n]) for n, p in zip(trainer.names, trainer.params)) and not trainer.optimizer.state


@pytest.mark.slow
def test_under_the_fp16_loss_scaler_an_infinite_gradient_is_the_scalers_but_a_nan_loss_still_stops(tiny_model_dir):
    """CUDA's fp16 GradScaler meets infinite gradients while it searches for its scale and skips
    those steps itself; the CPU's GradScaler, which behaves the same, stands in for it here."""
    trainer = _trainer(tiny_model_dir)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = {n: p.detach().clone() for n, p in zip(trainer.names, trainer.params)}
    _infinite_gradient(trainer)
    trainer.step([_batch([1, 2])])
    assert trainer.scaler.get_scale() < 1024.0
    assert all(torch.equal(p, before[n]) for n, p in zip(trainer.names, trainer.params))
    nan_batch = _batch([1, 2])
    nan_batch.latents[0] = float("nan")
    with pytest.raises(NonFiniteStepError, match=r"^the loss is not finite \(loss_mse=nan"):
        trainer.step([nan_batch])


def test_motion_preset_trains_on_frame_differences_only(tiny_model_dir):
    trainer = _trainer(tiny_model_dir, preset="tap-qk-motion", dual_path=False)
    batch = _batch([11, 12])
    with torch.no_grad():
        prediction, target = trainer._predict(batch.latents, batch.text, batch.noise.noise, batch.noise.timesteps)
    metrics = trainer.step([batch])
    assert metrics["loss"] == metrics["loss_frame_difference"] == pytest.approx(frame_difference_loss(prediction, target).item(), rel=1e-5)
    assert metrics["loss_mse"] == pytest.approx(torch.nn.functional.mse_loss(prediction, target).item(), rel=1e-5)
    assert metrics["loss_mse"] != pytest.approx(metrics["loss"], rel=1e-3)
