"""The objective: targets per prediction type, the AD and frame-difference losses, and per-sample noise draws."""

from __future__ import annotations

import pytest
import torch

from motionlora.train.losses import (
    appearance_debiased_loss,
    diffusion_loss,
    draw_noise,
    frame_difference_loss,
    prediction_target,
    training_scheduler,
)

CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_target_follows_the_prediction_type(kind):
    scheduler = training_scheduler({**CONFIG, "prediction_type": kind})
    latents, noise = torch.randn(2, 4, 3, 8, 8), torch.randn(2, 4, 3, 8, 8)
    t = torch.tensor([10, 900])
    target = prediction_target(scheduler, latents, noise, t)
    abar = scheduler.alphas_cumprod[t].view(2, 1, 1, 1, 1)
    expected = {"epsilon": noise, "sample": latents, "v_prediction": abar.sqrt() * noise - (1 - abar).sqrt() * latents}[kind]
    torch.testing.assert_close(target, expected)


def test_betas_are_the_base_models_and_ddpm():
    scheduler = training_scheduler({**CONFIG, "_class_name": "DDIMScheduler", "set_alpha_to_one": False})
    assert type(scheduler).__name__ == "DDPMScheduler"
    assert scheduler.betas[0].item() == pytest.approx(0.00085) and scheduler.betas[-1].item() == pytest.approx(0.012)


def test_unknown_prediction_type_is_refused():
    with pytest.raises(ValueError, match="prediction_type 'flow'"):
        training_scheduler({**CONFIG, "prediction_type": "flow"})


def test_ad_loss_is_the_motiondirector_formula():
    prediction, target = torch.randn(2, 4, 5, 3, 3), torch.randn(2, 4, 5, 3, 3)
    anchor = torch.tensor([1, 4])
    alpha = 2 ** 0.5
    manual = torch.stack([
        ((alpha * prediction[i] - prediction[i][:, a : a + 1]) - (alpha * target[i] - target[i][:, a : a + 1])).pow(2).mean()
        for i, a in enumerate(anchor.tolist())
    ]).mean()
    torch.testing.assert_close(appearance_debiased_loss(prediction, target, anchor), manual)


def test_ad_loss_discounts_errors_shared_by_all_frames():
    target = torch.randn(1, 4, 6, 3, 3)
    static = torch.randn(1, 4, 1, 3, 3).expand(-1, -1, 6, -1, -1)
    anchor = torch.tensor([2])
    ratio = appearance_debiased_loss(target + static, target, anchor) / diffusion_loss(target + static, target)
    assert ratio.item() == pytest.approx((2 ** 0.5 - 1) ** 2, rel=1e-5)


def test_noise_draws_depend_only_on_each_samples_seed():
    together = draw_noise([11, 22], (4, 6, 8, 8), 1000)
    alone = draw_noise([22], (4, 6, 8, 8), 1000)
    for name in ("timesteps", "noise", "anchor", "frame", "spatial_timesteps", "spatial_noise"):
        torch.testing.assert_close(getattr(together, name)[1:], getattr(alone, name), rtol=0, atol=0)
    assert together.noise.shape == (2, 4, 6, 8, 8) and together.spatial_noise.shape == (2, 4, 1, 8, 8)
    assert 0 <= together.frame.min() and together.frame.max() < 6


def test_frame_difference_loss_ignores_a_static_error_and_counts_a_moving_one():
    target = torch.randn(2, 4, 5, 8, 8, generator=torch.Generator().manual_seed(0))
    static = target + torch.randn(2, 4, 1, 8, 8, generator=torch.Generator().manual_seed(1))  # the same wrong look in every frame
    assert frame_difference_loss(static, target).item() == pytest.approx(0.0, abs=1e-12)
    assert diffusion_loss(static, target).item() > 0.5
    moving = target.clone()
    moving[:, :, 2] += 1.0  # one frame off by 1: two differences off by 1, out of 4 per pixel
    assert frame_difference_loss(moving, target).item() == pytest.approx(2 / 4)


def test_frame_difference_loss_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        frame_difference_loss(torch.zeros(1, 4, 1, 8, 8), torch.zeros(1, 4, 1, 8, 8))
