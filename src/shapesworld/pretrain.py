"""Pretrain the shapes-world T2V model from scratch: VAE, then UNetMotionModel + CLIP text encoder.

Recipe choices follow the pretraining probe (models/shapes/TRAINING.md, "Why this recipe"):
* AnimateDiff backbone (`UNetMotionModel`): its motion modules carry sinusoidal frame positions,
  without which left/right (time reversals of each other) were indistinguishable;
* x0 ("sample") or v prediction — ε-prediction produced noise at this size and budget — and the
  saved scheduler carries the same `prediction_type`, so diffusers' `scheduler.step` samples it;
* a trainable text encoder, and EMA weights are what ship (EMA beat raw weights);
* base motions only: held-out motions stay unseen for the motion-LoRA experiments.

Stage 1 trains the VAE and encodes a fixed pool of rendered clips once; stage 2 trains the UNet
on those latents. Everything resumes from `work_dir` (the VAE folder, then `checkpoint.safetensors`),
on any `device` (the checkpoint is loaded onto the one asked for). The checkpoint is one safetensors
file, its step, config and optimizer groups as JSON in the file's metadata: nothing is pickled,
as in the motion-LoRA trainer's checkpoints.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from pydantic import Field, model_validator
from safetensors.torch import save_file

from motionlora.config import settings_class
from motionlora.models.backbone import text_condition
from motionlora.models.encoders import tokenize_prompts
from motionlora.train.checkpoint import optimizer_from_files, optimizer_to_files
from motionlora.train.losses import prediction_target
from motionlora.train.schedule import lr_factor
from motionlora.testing.tiny_model import build_clip_text_encoder
from shapesworld.vae import build_vae, encode_frames, set_scaling_factor, train_vae
from shapesworld.judge import judge_accuracy
from shapesworld.world import build_tokenizer, random_specs, render_batch
from shapesworld.render import background_image, caption

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
RECORD = "training.json"


@settings_class
class PretrainConfig:
    """The `pretrain` section of configs/shapes.yaml (why each choice: models/shapes/TRAINING.md)."""

    seed: int = Field(0, description="clip pool, initialisation and data order")
    clips: int = Field(3000, ge=1, description="fixed pool of rendered base-motion clips (random specs and seeds), at "
                       "least `batch_size`")
    frames: int = Field(8, ge=1, description="frames per clip")
    size: int = Field(32, ge=1, description="frame width and height in pixels")
    vae_channels: tuple[int, ...] = Field((32, 64, 64), min_length=1, description="VAE block channels; it downsamples "
                                          "by 2 per block after the first")
    vae_latent_channels: int = Field(8, ge=1, description="VAE latent channels (4 capped the judge's shape accuracy on "
                                     "reconstructions at 0.47)")
    vae_steps: int = Field(600, ge=0, description="VAE training steps (a saved VAE with fewer is trained on)")
    vae_batch_size: int = Field(32, ge=1, description="frames per VAE step")
    vae_lr: float = Field(2e-3, gt=0, description="VAE learning rate")
    vae_norm_groups: int = Field(8, ge=1, description="VAE group-norm groups")
    vae_object_weight: float = Field(10.0, gt=0, description="weight of object pixels (those unlike the background) in "
                                     "the VAE's reconstruction loss")
    unet_channels: tuple[int, ...] = Field((48, 96), min_length=1, description="UNetMotionModel (AnimateDiff backbone) "
                                           "block channels")
    attention_heads: int = Field(2, ge=1, description="attention heads of the UNet's spatial and motion attention and "
                                 "of the text encoder")
    temporal_layers: int = Field(1, ge=1, description="motion-module transformer layers per block")
    norm_groups: int = Field(16, ge=1, description="UNet group-norm groups")
    text_hidden: int = Field(64, ge=1, description="hidden size of the CLIP text encoder, trained jointly")
    text_layers: int = Field(2, ge=1, description="layers of the CLIP text encoder")
    text_token_init_std: float | None = Field(1.0, gt=0, description="std of the text encoder's initial token "
                                              "embeddings; null = CLIP's 0.02, which never separated the motion words")
    caption_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of samples trained on the empty caption, "
                                   "which classifier-free guidance needs")
    prediction_type: Literal["sample", "v_prediction"] = Field(
        "sample", description="what the UNet predicts: `sample` (x0) or `v_prediction` (ε produced noise at this size); "
        "the saved scheduler carries it")
    beta_schedule: str = Field("squaredcos_cap_v2", description="noise schedule of the DDIM scheduler shipped with the model")
    steps: int = Field(3000, ge=1, description="UNet training steps")
    batch_size: int = Field(8, ge=1, description="clips per UNet step")
    lr: float = Field(1e-3, gt=0, description="UNet and text encoder learning rate after the warm-up")
    lr_final: float = Field(1e-4, gt=0, description="learning rate at the last step (cosine decay from `lr`)")
    warmup_steps: int = Field(100, ge=0, description="steps of linear learning-rate warm-up")
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0, description="EMA decay of the UNet and text encoder weights; the "
                             "EMA weights are what ships")
    checkpoint_every: int = Field(200, ge=1, description="checkpoint interval in UNet steps")
    log_every: int = Field(25, ge=1, description="logging interval in steps")
    threads: int = Field(1, ge=1, description="torch CPU threads")
    device: str = Field("cpu", description="torch device (`cuda` trains on a GPU)")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget of the UNet stage, summed over resumed "
                                      "sessions: it stops early and still exports; null = all `steps`. Raise it (or "
                                      "drop it) to continue a run that stopped on it")

    @model_validator(mode="after")
    def _enough_clips(self) -> PretrainConfig:
        if self.clips < self.batch_size:
            raise ValueError(f"clips ({self.clips}) must be at least batch_size ({self.batch_size})")
        return self


def build_scheduler(config: PretrainConfig):
    """The DDIM scheduler shipped with the model; training noises with its own alphas. Trailing
    spacing starts sampling at t=999 (pure noise under the cosine schedule)."""
    import diffusers

    return diffusers.DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule=config.beta_schedule,
        prediction_type=config.prediction_type,
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


def build_unet(config: PretrainConfig, latent_size: int, latent_channels: int):
    import diffusers

    levels = len(config.unet_channels)
    return diffusers.UNetMotionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        down_block_types=("CrossAttnDownBlockMotion",) * levels,
        up_block_types=("CrossAttnUpBlockMotion",) * levels,
        block_out_channels=config.unet_channels,
        layers_per_block=1,
        norm_num_groups=config.norm_groups,
        cross_attention_dim=config.text_hidden,
        num_attention_heads=config.attention_heads,
        motion_num_attention_heads=config.attention_heads,
        temporal_transformer_layers_per_block=config.temporal_layers,
        motion_max_seq_length=max(32, config.frames),
    )


def build_text_encoder(config: PretrainConfig, tokenizer):
    """A random CLIP text encoder. `text_token_init_std` redraws the token embeddings with that std
    (None keeps CLIP's 0.02): at 0.02 two words start ~0.2 apart in a hidden state of norm ~32, and
    words the UNet does not pick up early (the motion words) then stay indistinguishable."""
    encoder = build_clip_text_encoder(tokenizer, config.text_hidden, config.text_layers, config.attention_heads)
    if config.text_token_init_std is not None:
        with torch.no_grad():
            encoder.get_input_embeddings().weight.normal_(0.0, config.text_token_init_std)
    return encoder


@dataclass
class _Data:
    latents: torch.Tensor  # (N, C, F, h, w), scaled
    tokens: torch.Tensor  # (N, L)
    empty: torch.Tensor  # (L,) the empty caption's tokens


def drop_captions(tokens: torch.Tensor, empty: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """`tokens` (B, L) with each row replaced by the empty caption `empty` (L,, same device) with
    probability `rate`."""
    dropped = torch.rand(len(tokens), generator=generator, device=generator.device) < rate
    return torch.where(dropped[:, None], empty, tokens)


def _object_masks(specs, clips: torch.Tensor) -> torch.Tensor:
    """(N, F, 1, H, W) 1 where a pixel differs from the clip's background (the object), else 0."""
    backgrounds = torch.stack([
        torch.from_numpy(background_image(spec.background, spec.size)).permute(2, 0, 1).float() / 127.5 - 1.0 for spec in specs
    ])
    return ((clips - backgrounds[:, None]).abs().amax(dim=2, keepdim=True) > 1e-3).float()


def _stage_vae(config: PretrainConfig, work: Path):
    """Train the VAE up to `vae_steps` (continuing a saved one that has fewer), then encode the
    fixed clip pool with it. A continued VAE restarts the one-cycle LR schedule for its remaining
    steps."""
    import diffusers

    specs = random_specs(config.clips, config.seed, frames=config.frames, size=config.size)
    clips = render_batch(specs, seed=config.seed * 100_000)
    frames = clips.flatten(0, 1)
    vae_dir, record_path = work / "vae", work / "vae_record.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"steps": 0, "seconds": 0.0}
    if (vae_dir / "config.json").exists():
        vae = diffusers.AutoencoderKL.from_pretrained(vae_dir).eval().to(config.device)
        log.info("reloaded the VAE (%d steps) from %s", record["steps"], vae_dir)
    else:
        torch.manual_seed(config.seed)
        vae = build_vae(config.vae_channels, latent_channels=config.vae_latent_channels,
                        norm_groups=config.vae_norm_groups, sample_size=config.size).to(config.device)
    remaining = config.vae_steps - record["steps"]
    if remaining > 0:
        weights = 1.0 + (config.vae_object_weight - 1.0) * _object_masks(specs, clips).flatten(0, 1)
        order = torch.Generator().manual_seed(config.seed + record["steps"])

        def draw(_: int) -> tuple[torch.Tensor, torch.Tensor]:
            index = torch.randint(len(frames), (config.vae_batch_size,), generator=order)
            return frames[index], weights[index]

        started = time.monotonic()
        mse = train_vae(vae, draw, remaining, config.vae_lr)
        set_scaling_factor(vae, encode_frames(vae, frames))
        vae.save_pretrained(vae_dir)
        record = {"steps": config.vae_steps, "mse": mse, "seconds": record["seconds"] + time.monotonic() - started,
                  "segments": record.get("segments", []) + [remaining],
                  "judge_on_reconstructions": judge_reconstructions(vae, config)}
        log.info("judge on VAE reconstructions: %s", record["judge_on_reconstructions"])
        record_path.write_text(json.dumps(record) + "\n")
    latents = encode_frames(vae, frames) * vae.config.scaling_factor
    n, f = clips.shape[:2]
    latents = latents.reshape(n, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()
    tokenizer = build_tokenizer()
    tokens = tokenize_prompts(tokenizer, [*map(caption, specs), ""]).to(config.device)
    return vae, tokenizer, _Data(latents, tokens[:-1], tokens[-1])


def judge_reconstructions(vae, config: PretrainConfig, clips: int = 60, seed: int = 777) -> dict[str, float]:
    """The judge's accuracy on the VAE's reconstructions of fresh rendered clips: an upper bound on
    what any T2V model decoding through this VAE can reach."""
    specs = random_specs(clips, seed, frames=config.frames, size=config.size)
    frames = render_batch(specs, seed=seed * 100).flatten(0, 1)
    with torch.no_grad():
        decoded = torch.cat([vae.decode(encode_frames(vae, frames[i : i + 256])).sample for i in range(0, len(frames), 256)])
    pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    pixels = pixels.reshape(clips, config.frames, 3, config.size, config.size).permute(0, 1, 3, 4, 2).numpy()
    return judge_accuracy(zip(specs, pixels))


def _learning_rate(step: int, config: PretrainConfig) -> float:
    """Linear warm-up, then cosine from lr to lr_final."""
    factor = lr_factor(step, warmup_steps=config.warmup_steps, total_steps=config.steps, schedule="cosine",
                       floor=config.lr_final / config.lr)
    return config.lr * factor


def save_checkpoint(path: Path, tensors: dict[str, dict[str, torch.Tensor]], state: dict) -> None:
    """One file, replaced atomically: `tensors` groups ("modules", "ema", ...) flattened as
    `group.name`, `state` (JSON-able) in the metadata."""
    flat = {f"{group}.{name}": value.detach().cpu().contiguous()
            for group, values in tensors.items() for name, value in values.items()}
    tmp = path.with_suffix(".tmp")
    save_file(flat, tmp, metadata={"state": json.dumps(state)})
    os.replace(tmp, path)


def read_checkpoint(path: Path, device: str = "cpu") -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """What `save_checkpoint` wrote: (tensors by group, state)."""
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt", device=device) as handle:
        state = json.loads(handle.metadata()["state"])
        for key in handle.keys():
            group, name = key.split(".", 1)
            tensors.setdefault(group, {})[name] = handle.get_tensor(key)
    return tensors, state


def pretrain(config: PretrainConfig, work_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Train (resuming from `work_dir` when it holds a checkpoint) and export the EMA model to
    `out_dir` (default `work_dir/model`) in diffusers format; returns the export folder."""
    torch.set_num_threads(config.threads)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    vae, tokenizer, data = _stage_vae(config, work)
    scheduler = build_scheduler(config)
    torch.manual_seed(config.seed)
    unet = build_unet(config, data.latents.shape[-1], data.latents.shape[1])
    text_encoder = build_text_encoder(config, tokenizer)
    modules = torch.nn.ModuleDict({"unet": unet, "text_encoder": text_encoder}).to(config.device).train()
    generator = torch.Generator(config.device).manual_seed(config.seed)
    ema = copy.deepcopy(modules).requires_grad_(False).eval()
    optimizer = torch.optim.AdamW(modules.parameters(), lr=config.lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    checkpoint = work / CHECKPOINT
    if checkpoint.exists():
        tensors, state = read_checkpoint(checkpoint, config.device)
        modules.load_state_dict(tensors["modules"])
        ema.load_state_dict(tensors["ema"])
        optimizer.load_state_dict(optimizer_from_files(tensors.get("optimizer", {}), state["optimizer"]))
        step, elapsed = state["step"], state["elapsed"]
        generator.set_state(tensors["rng"]["generator"].cpu())
        log.info("resumed from %s at step %d (%.1f min)", checkpoint, step, elapsed / 60)
    params, ema_params = list(modules.parameters()), list(ema.parameters())
    started = time.monotonic() - elapsed

    def save() -> None:
        optimizer_tensors, optimizer_state = optimizer_to_files(optimizer.state_dict())
        save_checkpoint(checkpoint, {
            "modules": modules.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer_tensors,
            "rng": {"generator": generator.get_state()},
        }, {"step": step, "elapsed": time.monotonic() - started, "config": asdict(config), "optimizer": optimizer_state})

    running = 0.0
    while step < config.steps:
        if config.max_minutes is not None and time.monotonic() - started > config.max_minutes * 60:
            log.info("wall-clock budget of %.1f min reached at step %d", config.max_minutes, step)
            break
        index = torch.randint(len(data.latents), (config.batch_size,), generator=generator, device=config.device)
        x0 = data.latents[index]
        tokens = drop_captions(data.tokens[index], data.empty, config.caption_dropout, generator)
        noise = torch.randn(x0.shape, generator=generator, device=config.device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (config.batch_size,), generator=generator, device=config.device)
        noisy = scheduler.add_noise(x0, noise, t)
        text = text_condition(unet, text_encoder(tokens)[0], config.frames)
        prediction = unet(noisy, t, encoder_hidden_states=text).sample
        loss = torch.nn.functional.mse_loss(prediction, prediction_target(scheduler, x0, noise, t))
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        running += loss.item()
        if step % config.log_every == 0:
            log.info("step %d/%d loss %.4f lr %.2e %.1f min", step, config.steps, running / config.log_every,
                     optimizer.param_groups[0]["lr"], (time.monotonic() - started) / 60)
            running = 0.0
        if step % config.checkpoint_every == 0:
            save()
    save()
    out = Path(out_dir) if out_dir is not None else work / "model"
    export_model(out, ema, vae, tokenizer, scheduler)
    write_record(out, config, step, time.monotonic() - started, work)
    return out


def export_model(out: Path, ema: torch.nn.ModuleDict, vae, tokenizer, scheduler) -> None:
    """Write the EMA UNet and text encoder (fp16 — a few MB), the VAE, tokenizer and scheduler as a
    diffusers-format folder that `load_t2v_model` reads."""
    import diffusers

    out.mkdir(parents=True, exist_ok=True)
    for name, module in (("unet", ema["unet"]), ("text_encoder", ema["text_encoder"]), ("vae", vae)):
        copy.deepcopy(module).to("cpu", torch.float16).save_pretrained(out / name)
    tokenizer.save_pretrained(out / "tokenizer")
    scheduler.save_pretrained(out / "scheduler")
    index = {
        "_class_name": "AnimateDiffPipeline",
        "_diffusers_version": diffusers.__version__,
        "unet": ["diffusers", "UNetMotionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    }
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def write_record(out: Path, config: PretrainConfig, steps: int, seconds: float, work: Path) -> None:
    """`training.json`: recipe, steps, wall time and machine (judge numbers are added by evaluate-base)."""
    vae_record = json.loads((work / "vae_record.json").read_text()) if (work / "vae_record.json").exists() else {}
    record = {
        "recipe": asdict(config),
        "unet_steps": steps,
        "unet_wall_seconds": round(seconds, 1),
        "vae": vae_record,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "torch_threads": config.threads, "torch": torch.__version__, "device": config.device,
                    "accelerator": torch.cuda.get_device_name(config.device) if config.device.startswith("cuda") else None},
    }
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
