"""One optimizer step of the dual-path recipe, and the model set-up it needs.

For each micro-batch (gradient accumulation):
* spatial path (dual-path on): one random frame per clip, motion LoRA switched off, spatial LoRA
  trained — it soaks up the clips' appearance (MotionDirector);
* temporal path: the whole clip, spatial LoRA on but frozen (folded into the base weights when
  `fold_spatial_lora` is on), motion LoRA trained with the ε (or v, or x0) MSE, plus the
  appearance-debiased loss when `ad_loss` is on;
then one all-reduce of the LoRA gradients over the ranks and one AdamW step. Each path runs its
backward right after its forward, inside its own adapter state: gradient checkpointing recomputes
the forward during backward, and that recomputation must see the same adapters.

A step whose losses or total gradient norm are not finite raises `NonFiniteStepError` before the
optimizer step, so the weights stay those of the step before. Both values are all-reduced, hence
equal on every rank: under torchrun all ranks raise at the same step, with no extra communication.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import torch
from torch.utils.checkpoint import checkpoint

from motionlora.data.preprocess import PreprocessedDataset
from motionlora.finite import nonfinite_names
from motionlora.models.backbone import text_condition
from motionlora.motion.lora import lora_folded, lora_parameters, set_lora_enabled
from motionlora.motion.spatial import SPATIAL_ADAPTER, apply_spatial_lora
from motionlora.motion.presets import MOTION_ADAPTER, PRESETS
from motionlora.motion.tap import apply_motion_lora
from motionlora.train.checkpoint import Checkpoint
from motionlora.train.config import TrainConfig
from motionlora.train.distributed import DistContext, average_gradients
from motionlora.train.losses import NoiseDraw, appearance_debiased_loss, diffusion_loss, draw_noise, frame_difference_loss, prediction_target
from motionlora.train.schedule import lr_factor


class NonFiniteStepError(FloatingPointError):
    """A step's loss or gradient norm is NaN or infinite (raised before the optimizer step); says which."""


@dataclass(frozen=True)
class MicroBatch:
    """This rank's share of one micro-batch: latents (b, C, F, h, w), text (b, L, D), and its noise."""

    latents: torch.Tensor
    text: torch.Tensor
    noise: NoiseDraw


def total_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all `tensors` together (NaN or inf when any element is); 0 for none."""
    if not tensors:
        return torch.zeros(())
    norms = [torch.linalg.vector_norm(t.detach()) for t in tensors]
    return torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))


def micro_batch(dataset: PreprocessedDataset, slots: Sequence[tuple[int, int]], num_train_timesteps: int, device: torch.device) -> MicroBatch:
    """The clips and noise seeds a ShardPlan assigned, as tensors on `device`."""
    indices = torch.tensor([index for index, _ in slots])
    noise = draw_noise([seed for _, seed in slots], dataset.latents.shape[1:], num_train_timesteps)
    return MicroBatch(dataset.latents[indices].to(device), dataset.text_embeddings[indices].to(device), noise.to(device))


def precision_dtype(mixed_precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `mixed_precision`; half precision is refused on the CPU.

    On the CPU the run would either crawl (fp16 kernels) or quietly change the numbers a recipe
    was tuned with (bf16), so it is an error that names the fix rather than a silent fallback.
    """
    if mixed_precision == "no":
        return torch.float32
    if device.type != "cuda":
        raise ValueError(
            f"mixed_precision={mixed_precision} needs a CUDA GPU, and this run is on the CPU; "
            "train in float32 with --set mixed_precision=no"
        )
    if mixed_precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError("mixed_precision=bf16: this GPU does not support bfloat16; use mixed_precision=fp16")
    return torch.bfloat16 if mixed_precision == "bf16" else torch.float16


def _checkpointed(forward, *args, **kwargs):
    if torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def enable_block_checkpointing(unet: torch.nn.Module) -> None:
    """Recompute every U-Net block's activations during backward instead of keeping them.

    diffusers 0.42's UNet3DConditionModel refuses `enable_gradient_checkpointing`, so each down,
    mid and up block's forward is wrapped in `torch.utils.checkpoint` (non-reentrant; the RNG
    state is replayed, so LoRA dropout recomputes the same masks).
    """
    for block in [*unet.down_blocks, unet.mid_block, *unet.up_blocks]:
        block.forward = partial(_checkpointed, block.forward)


def add_training_adapters(unet: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    """Inject the motion LoRA (and the spatial one for dual-path) with weights that depend only on
    the seed, kept in float32 whatever the base dtype; enable gradient checkpointing and
    `torch.compile` (of the UNet's forward, compiled on first use) if asked."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        apply_motion_lora(unet, config.preset, config.rank, config.alpha, config.dropout)
        if config.dual_path:
            apply_spatial_lora(unet, config.spatial_rank or config.rank, None, config.dropout)
    for param in lora_parameters(unet, MOTION_ADAPTER) + lora_parameters(unet, SPATIAL_ADAPTER):
        param.data = param.data.float()
    if config.gradient_checkpointing:
        enable_block_checkpointing(unet)
    if config.torch_compile:
        unet.compile()
    return unet


class Trainer:
    """The LoRA weights, their optimizer and schedule, and one optimizer step."""

    def __init__(self, unet: torch.nn.Module, noise_scheduler: Any, config: TrainConfig, ctx: DistContext, dtype: torch.dtype = torch.float32) -> None:
        self.unet, self.noise_scheduler, self.config, self.ctx, self.dtype = unet, noise_scheduler, config, ctx, dtype
        self.motion_params = lora_parameters(unet, MOTION_ADAPTER)
        self.spatial_params = lora_parameters(unet, SPATIAL_ADAPTER) if config.dual_path else []
        self.params = self.motion_params + self.spatial_params
        self.frame_difference = PRESETS[config.preset].objective == "frame-difference"
        names = {id(p): n for n, p in unet.named_parameters()}
        self.names = [names[id(p)] for p in self.params]
        groups = [{"params": self.motion_params, "lr": config.learning_rate}]
        if self.spatial_params:
            groups.append({"params": self.spatial_params, "lr": config.spatial_learning_rate})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        schedule = partial(lr_factor, warmup_steps=config.warmup_steps, total_steps=config.steps, schedule=config.lr_schedule)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _predict(self, latents: torch.Tensor, text: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        text = text_condition(self.unet, text, latents.shape[2])
        with torch.autocast(self.ctx.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            prediction = self.unet(noisy, timesteps, encoder_hidden_states=text).sample
        return prediction, prediction_target(self.noise_scheduler, latents, noise, timesteps)

    def spatial_path(self, batch: MicroBatch, weight: float = 1.0) -> torch.Tensor:
        """Forward and backward of the spatial path: one random frame per clip, motion LoRA off,
        spatial LoRA trainable. Returns the (unweighted, detached) loss, left on the device."""
        set_lora_enabled(self.unet, MOTION_ADAPTER, False)
        for param in self.spatial_params:
            param.requires_grad_(True)
        rows = torch.arange(batch.latents.shape[0], device=batch.latents.device)
        frames = batch.latents[rows, :, batch.noise.frame].unsqueeze(2)
        prediction, target = self._predict(frames, batch.text, batch.noise.spatial_noise, batch.noise.spatial_timesteps)
        loss = diffusion_loss(prediction, target)
        self._backward(loss * weight)
        return loss.detach()

    def temporal_path(self, batch: MicroBatch, weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and backward of the temporal path: the whole clip, spatial LoRA on but frozen,
        motion LoRA trainable. Returns the (unweighted, detached) losses it computed: the MSE, the
        AD loss (0 when off) and the loss its preset trains on (the MSE, or the frame-difference
        loss), left on the device."""
        set_lora_enabled(self.unet, MOTION_ADAPTER, True)
        for param in self.spatial_params:
            param.requires_grad_(False)
        fold = self.spatial_params and self.config.fold_spatial_lora
        with lora_folded(self.unet, SPATIAL_ADAPTER) if fold else nullcontext():
            prediction, target = self._predict(batch.latents, batch.text, batch.noise.noise, batch.noise.timesteps)
            mse = diffusion_loss(prediction, target)
            objective = frame_difference_loss(prediction, target) if self.frame_difference else mse
            ad = appearance_debiased_loss(prediction, target, batch.noise.anchor, self.config.ad_beta) if self.config.ad_loss else None
            self._backward((objective + ad if ad is not None else objective) * weight)
        zero = torch.zeros_like(mse.detach())
        return mse.detach(), ad.detach() if ad is not None else zero, objective.detach()

    def _unscale_and_clip(self) -> torch.Tensor:
        """Unscale the gradients (fp16) and clip each group's to `max_grad_norm` (if set); returns
        the total gradient norm over all groups before clipping (clipping's own, when it runs)."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm is None:
            return total_norm([p.grad for p in self.params if p.grad is not None])
        return total_norm([torch.nn.utils.clip_grad_norm_(group["params"], self.config.max_grad_norm)
                           for group in self.optimizer.param_groups])

    def _optimizer_step(self) -> None:
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def _require_finite(self, losses: dict[str, float], grad_norm: float) -> None:
        """Refuse to step on a non-finite loss or gradient norm. With the fp16 GradScaler an
        infinite gradient is routine (the scaler is searching for its scale and skips that step
        itself), so only the losses are checked then."""
        shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        if not all(math.isfinite(v) for v in losses.values()):
            raise NonFiniteStepError(f"the loss is not finite ({shown})")
        if self.scaler is None and not math.isfinite(grad_norm):
            raise NonFiniteStepError(f"the gradient norm is {grad_norm} although the loss is finite ({shown})")

    def step(self, micro_batches: Sequence[MicroBatch]) -> dict[str, float]:
        """One optimizer step over `micro_batches` (this rank's share); returns rank-averaged losses
        and the learning rates the step used. Raises `NonFiniteStepError` (see the module doc)."""
        self.unet.train()
        weight = 1.0 / len(micro_batches)
        totals = torch.zeros(4, dtype=torch.float64, device=self.ctx.device)
        for batch in micro_batches:
            spatial = self.spatial_path(batch, weight) if self.spatial_params else torch.zeros((), device=self.ctx.device)
            mse, ad, objective = self.temporal_path(batch, weight)
            totals += torch.stack([mse, ad, spatial, objective]).double() * weight
        averaged = average_gradients(self.params, totals, self.ctx)
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        grad_norm = self._unscale_and_clip()
        mse, ad, spatial, objective, norm = torch.cat([averaged.double().to(grad_norm.device), grad_norm.double().reshape(1)]).tolist()
        losses = {"loss_mse": mse, **({"loss_ad": ad} if self.config.ad_loss else {}),
                  **({"loss_frame_difference": objective} if self.frame_difference else {}),
                  **({"loss_spatial": spatial} if self.spatial_params else {})}
        self._require_finite(losses, norm)
        self._optimizer_step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        metrics = {"loss": objective + ad, "loss_mse": mse, "lr": lrs[0]}
        if self.config.ad_loss:
            metrics["loss_ad"] = ad
        if self.frame_difference:
            metrics["loss_frame_difference"] = objective
        if self.spatial_params:
            metrics.update(loss_spatial=spatial, lr_spatial=lrs[1])
        return metrics

    def lora_state(self) -> dict[str, torch.Tensor]:
        """The trainable LoRA weights by parameter name (motion and spatial)."""
        return {name: param.detach() for name, param in zip(self.names, self.params)}

    def nonfinite_state(self) -> list[str]:
        """The LoRA weights and optimizer moments (`name (exp_avg)`) holding a NaN or infinity: what a
        checkpoint or the adapter would store."""
        tensors = self.lora_state()
        for name, param in zip(self.names, self.params):
            tensors.update({f"{name} ({key})": value for key, value in self.optimizer.state.get(param, {}).items()
                            if isinstance(value, torch.Tensor)})
        return nonfinite_names(tensors)

    def schedule_state(self) -> dict[str, Any]:
        """The JSON part of the optimizer-side state: lr schedule and fp16 loss scaler."""
        return {
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load(self, checkpoint: Checkpoint) -> None:
        """Put the LoRA weights, optimizer and schedules back as the checkpoint holds them."""
        missing = sorted(set(self.names) - set(checkpoint.lora))
        if missing:
            raise ValueError(f"checkpoint {checkpoint.path} lacks LoRA weights {missing[:3]}; it was written by another recipe")
        with torch.no_grad():
            for name, param in zip(self.names, self.params):
                param.copy_(checkpoint.lora[name])
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self.lr_scheduler.load_state_dict(checkpoint.state["lr_scheduler"])
        if self.scaler is not None and checkpoint.state.get("grad_scaler"):
            self.scaler.load_state_dict(checkpoint.state["grad_scaler"])
