"""Train a motion adapter from preprocessed latents: data parallel, resumable, tracked.

`train` is what `motionlora train` (and each torchrun rank) runs: check the data against the base
model, add the LoRAs, resume from the newest checkpoint in --out, run the optimizer steps of
`step.Trainer` over a deterministic `ShardPlan`, checkpoint and validate on schedule, and finally
write the motion adapter (spatial LoRA discarded) and `train_summary.json`. Only rank 0 writes
files or talks to MLflow; every rank reads the data and the checkpoint it resumes from, so --out
must be on a filesystem all ranks share.

Finite or nothing: a step with a non-finite loss or gradient norm, or LoRA weights or optimizer
moments found non-finite where they would be saved (each checkpoint and the end), stops the run
with `NonFiniteTrainingError` on every rank at once; the checkpoints already written are kept and
nothing non-finite is written.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionlora.data.manifest import MANIFEST
from motionlora.data.preprocess import PreprocessedDataset, load_preprocessed
from motionlora.data.provenance import clips_provenance
from motionlora.finite import describe_nonfinite
from motionlora.models.identity import ModelIdentity, identity_mismatch
from motionlora.models.loading import T2VModel, load_t2v_model
from motionlora.motion.adapter import save_motion_adapter
from motionlora.motion.lora import set_lora_enabled
from motionlora.motion.spatial import discard_spatial_lora
from motionlora.motion.presets import MOTION_ADAPTER
from motionlora.tracking import NullRun, TrackingOptions, git_commit, resolve_tracking_uri, start_run
from motionlora.train import checkpoint as ckpt
from motionlora.train.config import TrainConfig, incompatible_changes
from motionlora.train.distributed import (
    DistContext,
    ShardPlan,
    abort,
    all_gather,
    broadcast_int,
    broadcast_parameters,
    derive_seed,
    gather_digests,
    init_distributed,
    shutdown,
)
from motionlora.train.losses import training_scheduler
from motionlora.train.memory import peak_memory_mb
from motionlora.train.outputs import ADAPTER_DIR, RUN_FILE, SUMMARY_FILE, SUMMARY_FORMAT, SYNC_FILE
from motionlora.train.step import MicroBatch, NonFiniteStepError, Trainer, add_training_adapters, micro_batch, precision_dtype
from motionlora.train.validation import Validator

log = logging.getLogger("motionlora.train")

_OOM_MARKERS = ("out of memory", "can't allocate memory")


class OutOfMemoryHintError(RuntimeError):
    """A training step ran out of memory; the message says which settings lower the need."""


class NonFiniteTrainingError(RuntimeError):
    """Training met a NaN or infinity; the message names the step, what was not finite and the likely cause."""


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter went, and what `train_summary.json` says."""

    out_dir: Path
    adapter_dir: Path
    summary: dict[str, Any]


def check_data_matches_model(dataset: PreprocessedDataset, identity: ModelIdentity, unet: torch.nn.Module,
                             source: str) -> None:
    """Refuse latents and text embeddings made with another base model (or that do not fit this UNet);
    `source` is the model as the user named it, for the fix."""
    mismatch = identity_mismatch(dataset.model, identity)
    if mismatch is not None:
        raise ValueError(
            f"{dataset.directory} was preprocessed with base model {dataset.model.get('source')} ({mismatch.what} hash "
            f"{mismatch.recorded[:12]}), but training loads {source} ({mismatch.what} hash "
            f"{mismatch.actual[:12]}); preprocess the clips again with --model {source}"
        )
    channels, dim = dataset.latents.shape[1], dataset.text_embeddings.shape[-1]
    if channels != unet.config.in_channels or dim != unet.config.cross_attention_dim:
        raise ValueError(
            f"{dataset.directory}: latents have {channels} channels and text embeddings width {dim}, but the UNet "
            f"expects {unet.config.in_channels} and {unet.config.cross_attention_dim}"
        )


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(m in str(err) for m in _OOM_MARKERS)
    )


def oom_hint(config: TrainConfig, dataset: PreprocessedDataset, device: torch.device) -> str:
    """What to change after running out of memory with `config`."""
    c, f, h, w = dataset.latents.shape[1:]
    hints = [f"lower batch_size (now {config.batch_size}) and raise gradient_accumulation "
             f"(now {config.gradient_accumulation}) to keep the global batch"]
    if not config.gradient_checkpointing:
        hints.append("set gradient_checkpointing=true")
    if device.type == "cuda" and config.mixed_precision == "no":
        hints.append("set mixed_precision=bf16")
    if config.dual_path:
        hints.append("or set dual_path=false (no spatial path)")
    return (f"out of memory training on {device} with {config.batch_size} clip(s) of latents {c}x{f}x{h}x{w} per device; "
            + "; ".join(hints))


def nonfinite_clips(dataset: PreprocessedDataset) -> list[str]:
    """Ids of the clips whose latents or text embeddings hold a NaN or infinity."""
    finite = torch.isfinite(dataset.latents.flatten(1)).all(1) & torch.isfinite(dataset.text_embeddings.flatten(1)).all(1)
    return [dataset.clips[i].id for i in torch.nonzero(~finite).flatten().tolist()]


def nonfinite_hint(config: TrainConfig, dataset: PreprocessedDataset) -> str:
    """The likely cause of a NaN or infinity in training: clips holding one, if any; else the settings."""
    bad = nonfinite_clips(dataset)
    if bad:
        return (f"likely cause: bad data: clip(s) {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} in "
                f"{dataset.directory} hold NaN or infinite values; preprocess them again")
    rates = f"learning_rate={config.learning_rate:g}"
    if config.dual_path:
        rates += f", spatial_learning_rate={config.spatial_learning_rate:g}"
    causes = [f"a learning rate too high ({rates})"]
    if config.mixed_precision != "no":
        causes.append(f"mixed-precision overflow (mixed_precision={config.mixed_precision}; try mixed_precision=no)")
    return "likely cause: " + " or ".join(causes) + "; change that and train into a fresh --out"


def _nonfinite_error(step: int, what: str, config: TrainConfig, dataset: PreprocessedDataset) -> NonFiniteTrainingError:
    return NonFiniteTrainingError(f"step {step}: {what}; stopped without saving anything of this step "
                                  f"(checkpoints already in --out are kept); {nonfinite_hint(config, dataset)}")


def _require_finite_state(trainer: Trainer, step: int, dataset: PreprocessedDataset) -> None:
    """Before anything is saved: the LoRA weights and optimizer moments must be finite. Every rank
    checks (they hold identical values), so every rank stops together."""
    bad = trainer.nonfinite_state()
    if bad:
        raise _nonfinite_error(step, f"the training state is not finite: {describe_nonfinite(bad)}", trainer.config, dataset)


def _seed_rank_streams(seed: int, rank: int) -> None:
    """Give each rank its own torch/numpy/python RNG stream (LoRA dropout draws from it)."""
    stream = derive_seed(seed, "rank", rank)
    torch.manual_seed(stream)
    np.random.seed(stream % 2**32)
    random.seed(stream)


def _resume(trainer: Trainer, out_dir: Path, ctx: DistContext, config: TrainConfig, identity: ModelIdentity, dataset: PreprocessedDataset) -> int:
    """Load the newest intact checkpoint (rank 0 picks it, skipping broken ones; every rank reads it);
    returns its step, or 0."""
    newest = None
    if ctx.is_main:
        ckpt.remove_stale(out_dir)
        newest = ckpt.newest_intact_checkpoint(out_dir, ctx.rank, log.warning)
    step = broadcast_int(newest.step if newest is not None else -1, ctx)
    if step < 0:
        return 0
    path = out_dir / ckpt.CHECKPOINTS_DIR / ckpt.checkpoint_name(step)
    if not path.is_dir():
        raise FileNotFoundError(f"rank {ctx.rank} cannot see checkpoint {path}: --out must be on a filesystem every rank shares")
    checkpoint = newest if newest is not None else ckpt.load_checkpoint(path, ctx.rank)
    state = checkpoint.state
    if identity_mismatch(state.get("base_model", {}), identity) is not None:
        raise ValueError(f"checkpoint {path} was trained on another base model ({state.get('base_model')}); use a fresh --out")
    if state.get("data_content_hash") != dataset.content_hash:
        raise ValueError(f"checkpoint {path} was trained on other data (content hash {state.get('data_content_hash')}); use a fresh --out")
    changed = incompatible_changes(state.get("config", {}), config)
    if changed:
        detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ValueError(f"cannot resume from {path}: settings changed ({detail}); use a fresh --out or the old settings")
    trainer.load(checkpoint)
    if checkpoint.rng:
        ckpt.restore_rng(checkpoint.rng)
    else:
        log.warning("checkpoint %s has no RNG state for rank %d (it ran with %s ranks); reseeding", path, ctx.rank, state.get("world_size"))
        _seed_rank_streams(derive_seed(config.seed, "resume", step), ctx.rank)
    log.info("resuming from step %d (%s)", step, path)
    return step


def _save_checkpoint(trainer: Trainer, out_dir: Path, step: int, ctx: DistContext, state: dict[str, Any]) -> None:
    """Every rank contributes its RNG state; rank 0 writes the checkpoint and prunes old ones."""
    rng = ckpt.capture_rng()
    gathered = {key: all_gather(value, ctx) for key, value in rng.items()}
    if not ctx.is_main:
        return
    by_rank = [{key: values[r] for key, values in gathered.items()} for r in range(ctx.world_size)]
    path = ckpt.save_checkpoint(out_dir, step, trainer.lora_state(), trainer.optimizer.state_dict(), by_rank,
                                {**state, **trainer.schedule_state()})
    ckpt.prune_checkpoints(out_dir, trainer.config.keep_checkpoints)
    log.info("step %d: checkpoint %s", step, path)


def _check_sync(trainer: Trainer, out_dir: Path, step: int, ctx: DistContext) -> None:
    """debug_check_sync: every rank's LoRA weights must be bit-identical after every step."""
    digests = gather_digests(trainer.params, ctx)
    if ctx.is_main:
        path = out_dir / SYNC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps({"step": step, "digests": digests}) + "\n")
    if len(set(digests)) != 1:
        raise RuntimeError(f"step {step}: LoRA weights differ between ranks: {digests}")


def _save_adapter(unet: torch.nn.Module, out_dir: Path, identity: ModelIdentity, config: TrainConfig, extra: dict[str, Any]) -> Path:
    """Discard the spatial LoRA and write the motion adapter to out_dir/adapter (replaced atomically)."""
    discard_spatial_lora(unet)
    set_lora_enabled(unet, MOTION_ADAPTER, True)
    final, tmp = out_dir / ADAPTER_DIR, out_dir / f".{ADAPTER_DIR}-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_motion_adapter(unet, tmp, identity, config.preset, config.highway_settings, config.pli_tau, extra)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    return final


def _data_provenance(dataset: PreprocessedDataset) -> dict[str, Any]:
    """The data's identity: folder, content hash, and the DVC revisions its clips came from (if any)."""
    data: dict[str, Any] = {"dir": str(dataset.directory), "content_hash": dataset.content_hash, "num_clips": len(dataset)}
    origin = clips_provenance(dataset.directory) if (dataset.directory / MANIFEST).exists() else None
    if origin is not None and origin.dvc_revs:
        data.update(dvc_rev=list(origin.dvc_revs), dvc_commit=list(origin.dvc_commits))
    return data


def _open_run(stack: ExitStack, tracking: TrackingOptions, ctx: DistContext, out_dir: Path, commit: str | None) -> NullRun:
    """Rank 0's MLflow run (re-opened when this --out was already tracked at the same URI)."""
    if not (tracking.enabled and ctx.is_main):
        return NullRun()
    uri = resolve_tracking_uri(tracking.tracking_uri)
    record = out_dir / RUN_FILE
    previous = json.loads(record.read_text()) if record.exists() else {}
    run = stack.enter_context(start_run(
        uri, tracking.experiment, tracking.run_name or out_dir.name, tracking.parent_run_id,
        run_id=previous.get("run_id") if previous.get("tracking_uri") == uri else None,
        tags={"mlflow.source.git.commit": commit} if commit else None,
    ))
    record.write_text(json.dumps({"tracking_uri": uri, "run_id": run.run_id}) + "\n")
    return run


def _guarded_step(trainer: Trainer, batches: list[MicroBatch], config: TrainConfig, dataset: PreprocessedDataset, step: int) -> dict[str, float]:
    """`trainer.step`, with out-of-memory errors (torch.OutOfMemoryError is a RuntimeError) and
    non-finite losses or gradients re-raised with the step and a hint."""
    try:
        return trainer.step(batches)
    except NonFiniteStepError as err:
        raise _nonfinite_error(step, str(err), config, dataset) from err
    except RuntimeError as err:
        if not _is_oom(err):
            raise
        raise OutOfMemoryHintError(f"step {step}: {oom_hint(config, dataset, trainer.ctx.device)} ({err})") from err


@dataclass
class _Session:
    """Everything set up before the first step, shared by the loop and the final write-out."""

    config: TrainConfig
    ctx: DistContext
    dataset: PreprocessedDataset
    model: T2VModel
    trainer: Trainer
    out_dir: Path
    start: int

    @property
    def samples_per_step(self) -> int:
        return self.ctx.world_size * self.config.batch_size * self.config.gradient_accumulation


def _prepare(config: TrainConfig, data_dir: Path, out_dir: Path, model_source: str, ctx: DistContext) -> _Session:
    """Load and check data and model, add the LoRAs, and resume from --out if it holds a checkpoint."""
    dtype = precision_dtype(config.mixed_precision, ctx.device)
    dataset = load_preprocessed(data_dir)
    model = load_t2v_model(model_source, parts=("unet", "scheduler"), dtype=dtype, device=ctx.device)
    check_data_matches_model(dataset, model.identity, model.unet, model_source)
    add_training_adapters(model.unet, config)
    trainer = Trainer(model.unet, training_scheduler(model.scheduler.config), config, ctx, dtype)
    broadcast_parameters(trainer.params, ctx)
    _seed_rank_streams(config.seed, ctx.rank)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    start = _resume(trainer, out_dir, ctx, config, model.identity, dataset)
    return _Session(config, ctx, dataset, model, trainer, out_dir, start)


def _loop(session: _Session, run: NullRun) -> dict[str, float]:
    """The optimizer steps from `session.start` to `config.steps`; returns the last step's metrics."""
    config, ctx, dataset, trainer = session.config, session.ctx, session.dataset, session.trainer
    plan = ShardPlan(len(dataset), config.batch_size, ctx.world_size, config.gradient_accumulation, config.seed)
    num_timesteps = trainer.noise_scheduler.config.num_train_timesteps
    state = {"config": config.to_dict(), "base_model": session.model.identity.to_dict(), "data_content_hash": dataset.content_hash}
    validator = Validator(session.model, config, dataset, session.out_dir, run)
    metrics: dict[str, float] = {}
    for step in range(session.start, config.steps):
        done = step + 1
        batches = [micro_batch(dataset, plan.slots(step, m, ctx.rank), num_timesteps, ctx.device) for m in range(config.gradient_accumulation)]
        tick = time.perf_counter()
        metrics = _guarded_step(trainer, batches, config, dataset, done)
        seconds = time.perf_counter() - tick
        metrics.update(samples_per_s=session.samples_per_step / seconds, steps_per_s=1.0 / seconds,
                       peak_memory_mb=peak_memory_mb(ctx.device))
        if config.debug_check_sync:
            _check_sync(trainer, session.out_dir, done, ctx)
        if done % config.checkpoint_every == 0 or done == config.steps:
            _require_finite_state(trainer, done, dataset)
        if done % config.log_every == 0 or done == config.steps:
            run.log_metrics(metrics, done)
            log.info("step %d/%d: %s", done, config.steps, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        if done % config.checkpoint_every == 0:
            _save_checkpoint(trainer, session.out_dir, done, ctx, state)
        if ctx.is_main and validator.due(done):
            validator(trainer.unet, done)
    return metrics


def _summary(session: _Session, run: NullRun, metrics: dict[str, float], wall: float, commit: str | None) -> dict[str, Any]:
    """The contents of train_summary.json: what ran, how fast, on what, and where it is tracked."""
    trained = session.config.steps - session.start
    return {
        "format": SUMMARY_FORMAT,
        "steps": session.config.steps,
        "resumed_from": session.start or None,
        "steps_this_run": trained,
        "world_size": session.ctx.world_size,
        "global_batch": session.samples_per_step,
        "final_metrics": metrics,
        "wall_s": wall,
        "samples_per_s": trained * session.samples_per_step / wall if trained and wall > 0 else None,
        "peak_memory_mb": peak_memory_mb(session.ctx.device),
        "adapter": ADAPTER_DIR,
        "base_model": session.model.identity.to_dict(),
        "data": _data_provenance(session.dataset),
        "git_commit": commit,
        "config": session.config.to_dict(),
        "mlflow": {"tracking_uri": run.tracking_uri, "run_id": run.run_id} if run.run_id else None,
    }


def _train(config: TrainConfig, data_dir: Path, out_dir: Path, model_source: str, tracking: TrackingOptions, ctx: DistContext) -> TrainResult:
    session = _prepare(config, data_dir, out_dir, model_source, ctx)
    commit = git_commit()
    with ExitStack() as stack:
        run = _open_run(stack, tracking, ctx, out_dir, commit)
        run.log_params({
            "train": config.to_dict(), "base_model": session.model.identity.to_dict(),
            "data": _data_provenance(session.dataset), "git_commit": commit or "unknown",
            "world_size": ctx.world_size, "global_batch": session.samples_per_step,
        })
        began = time.perf_counter()
        metrics = _loop(session, run)
        summary = _summary(session, run, metrics, time.perf_counter() - began, commit)
        adapter_dir = out_dir / ADAPTER_DIR
        if ctx.is_main:
            extra = {"train": {"steps": config.steps, "seed": config.seed, "data_content_hash": session.dataset.content_hash,
                               "mlflow_run_id": run.run_id}}
            _save_adapter(session.trainer.unet, out_dir, session.model.identity, config, extra)
            (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
            run.log_artifacts(adapter_dir, ADAPTER_DIR)
            run.log_artifact(out_dir / SUMMARY_FILE)
            log.info("wrote %s and %s", adapter_dir, out_dir / SUMMARY_FILE)
    return TrainResult(out_dir, adapter_dir, summary)


def train(
    config: TrainConfig,
    data_dir: str | Path,
    out_dir: str | Path,
    model: str | None = None,
    tracking: TrackingOptions = TrackingOptions(),
) -> TrainResult:
    """Train a motion adapter on the preprocessed clips in `data_dir`; resumes from `out_dir` if it
    holds checkpoints. Under torchrun every rank calls this; only rank 0 writes and tracks."""
    source = model or config.model
    if not source:
        raise ValueError("no base model: pass --model or set `model` in the recipe's train section")
    ctx = init_distributed()
    try:
        result = _train(config, Path(data_dir), Path(out_dir), str(source), tracking, ctx)
    except BaseException:
        abort(ctx)
        raise
    shutdown(ctx)
    return result
