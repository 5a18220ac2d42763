"""Peak GPU memory of one motion-LoRA training step on a ZeroScope-sized U-Net: an ESTIMATE made
on the CPU, from the tensors autograd saves for backward, counted on the meta device.

Why: ZeroScope v2 576w's UNet3D (1.4 B parameters) cannot train here, and whether a recipe fits a
GPU (and whether it needs gradient checkpointing) should be known before renting one.

How (nothing real is allocated; the model has random meta weights):
1. The UNet3DConditionModel is built from ZeroScope's published config under
   `torch.device("meta")`, in the recipe's weight dtype, and the trainer's own
   `add_training_adapters` injects the LoRAs (peft injects on meta tensors as on real ones): preset
   tap-k, rank 16, dual path, LoRA weights in float32 — the `TrainConfig` defaults.
2. The temporal path (`Trainer.temporal_path`: whole clip, motion LoRA trainable, spatial LoRA
   frozen — folded into the base weights when they are float32, a running frozen branch when
   they are bf16, as `lora_folded` decides) runs forward under `saved_tensors_hooks` that
   record each tensor autograd keeps. Tensors are counted by storage, so views and tensors saved
   twice count once; parameters are left out (they are the weights row). Two stand-ins make the
   meta run save what a GPU run saves:
   * attention: on meta `F.scaled_dot_product_attention` falls back to the math path, which keeps
     the L×L attention matrix; GPUs (and CPUs) run a fused kernel that keeps q, k, v, the output
     and the log-sum-exp. The meta run calls the CPU fused kernel, which saves exactly those.
   * autocast: `torch.autocast` does not run on meta tensors, so a TorchFunctionMode casts the
     inputs of the ops CUDA autocast runs in bf16 (linear, conv, matmul, attention) or in float32
     (group/layer norm, softmax, MSE) before autograd sees them — as autocast does, so its cast
     copies are counted too. Halving float32 activations would undercount: CUDA autocast keeps
     every norm's input copy and output in float32.
3. Gradient checkpointing (`enable_block_checkpointing`: each down, mid and up block recomputed in
   backward) keeps what is saved outside the blocks and every block's inputs; while a block
   back-propagates, its own saved tensors come back. Peak = the largest, over blocks, of
   (outside ∪ block inputs ∪ that block's saved tensors). Slightly high: inputs of blocks already
   back-propagated are freed by then.
4. Validation on a tiny UNet3D of the same layout, on the CPU: (a) the saved-byte count on meta
   tensors with the stand-ins (CPU autocast's op lists) over the same count on real tensors (real
   attention kernel, real CPU autocast); (b) the estimates over the real peak of the bytes of
   live tensors during a real forward and backward, with and without block checkpointing,
   tracked by a TorchDispatchMode. Both ratios are printed.

Peak = weights + LoRA (weights, grads, two AdamW moments, float32) + the temporal path's saved
activations. The spatial path (one frame) runs, and frees its activations, before the temporal
path; its activations are printed to show they are smaller. Not counted: gradients in flight
during backward (a few activation-sized tensors), kernel workspaces, the CUDA context (~0.5 GB),
allocator caching and fragmentation. Sizes are GiB (2**30 bytes).

    .venv/bin/python benchmarks/zeroscope_memory.py [--frames 16] [--size 384] [--record]
"""

from __future__ import annotations

import argparse
import sys
import weakref
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import record  # noqa: E402

from motionlora.motion.lora import lora_folded, lora_parameters, set_lora_enabled  # noqa: E402
from motionlora.motion.spatial import SPATIAL_ADAPTER  # noqa: E402
from motionlora.motion.presets import MOTION_ADAPTER  # noqa: E402
from motionlora.train.config import TrainConfig  # noqa: E402
from motionlora.train.losses import diffusion_loss  # noqa: E402
from motionlora.train.step import add_training_adapters, enable_block_checkpointing  # noqa: E402

GIB = 2**30
VAE_SCALE = 8
TEXT_TOKENS = 77

# cerspense/zeroscope_v2_576w unet/config.json (diffusers UNet3DConditionModel).
ZEROSCOPE_UNET: dict[str, Any] = {
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "attention_head_dim": 64,
    "down_block_types": ("CrossAttnDownBlock3D",) * 3 + ("DownBlock3D",),
    "up_block_types": ("UpBlock3D",) + ("CrossAttnUpBlock3D",) * 3,
    "in_channels": 4,
    "out_channels": 4,
    "sample_size": 64,
    "norm_num_groups": 32,
}
# Same block layout, small enough to run for real on a CPU in a second.
TINY_UNET: dict[str, Any] = {
    **ZEROSCOPE_UNET,
    "block_out_channels": (16, 32, 32, 32),
    "layers_per_block": 1,
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "sample_size": 8,
    "norm_num_groups": 8,
}

# The ops a UNet3D forward calls from torch's autocast lists (aten/src/ATen/autocast_mode.h).
LOWER_PRECISION_OPS = frozenset(
    {F.linear, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose2d, torch.matmul, torch.Tensor.matmul, torch.bmm,
     torch.baddbmm, torch.mm, torch.addmm, F.scaled_dot_product_attention}
)
CUDA_FP32_OPS = frozenset({F.group_norm, F.layer_norm, F.softmax, torch.softmax, torch.Tensor.softmax, F.mse_loss})
CPU_FP32_OPS = frozenset({F.mse_loss})


@dataclass(frozen=True)
class Precision:
    """A training precision recipe: base-weight dtype and whether the forward runs under bf16 autocast."""

    name: str
    weights: torch.dtype
    autocast: bool


FP32 = Precision("fp32 (mixed_precision=no)", torch.float32, False)
BF16 = Precision("bf16 (mixed_precision=bf16)", torch.bfloat16, True)


def _storage(tensor: torch.Tensor) -> tuple[int, int]:
    """(key, bytes) of the storage under `tensor`: views of one storage share the key, on meta too."""
    storage = tensor.untyped_storage()
    return storage._cdata, storage.nbytes()


def _fused_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """SDPA through the fused (flash) CPU kernel: saves q, k, v, output and log-sum-exp, as GPU kernels do."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale
    )[0]


def _cast(tree: Any, dtype: torch.dtype) -> Any:
    """Autocast's cast: floating tensors other than float64 to `dtype`, the rest untouched."""
    def cast(x: Any) -> Any:
        eligible = isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != torch.float64
        return x.to(dtype) if eligible else x

    return tree_map(cast, tree)


class MetaStandIns(TorchFunctionMode):
    """On meta tensors: the fused attention kernel instead of the math fallback, and, when
    `autocast_dtype` is set, autocast's input casts (`fp32_ops` run in float32). Autocast's cast
    cache is left out: it only reuses casts of trainable float32 weights, each used once here."""

    def __init__(self, autocast_dtype: torch.dtype | None, fp32_ops: frozenset = CUDA_FP32_OPS) -> None:
        super().__init__()
        self.autocast_dtype, self.fp32_ops = autocast_dtype, fp32_ops

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if self.autocast_dtype is not None and func in LOWER_PRECISION_OPS:
            args, kwargs = _cast((args, kwargs), self.autocast_dtype)
        elif self.autocast_dtype is not None and func in self.fp32_ops:
            args, kwargs = _cast((args, kwargs), torch.float32)
        if func is F.scaled_dot_product_attention:
            return _fused_attention(*args, **kwargs)
        return func(*args, **kwargs)


class SavedTensors:
    """The storages autograd saves during a forward, by region: each U-Net block, or "outside".

    Also records the storages of every block's inputs (what block checkpointing keeps).
    `exclude`: storage keys not to count (the parameters).
    """

    OUTSIDE = "outside"

    def __init__(self, unet: torch.nn.Module, exclude: set[int]) -> None:
        self.blocks = {f"{kind}.{i}": b for kind in ("down_blocks", "up_blocks") for i, b in enumerate(getattr(unet, kind))}
        self.blocks["mid_block"] = unet.mid_block
        self.exclude = exclude
        self.storages: dict[int, torch.UntypedStorage] = {}
        self.regions: dict[str, set[int]] = defaultdict(set)
        self.block_inputs: set[int] = set()
        self.region = self.OUTSIDE

    def _track(self, tensor: torch.Tensor, keys: set[int]) -> None:
        storage = tensor.untyped_storage()
        if storage._cdata not in self.exclude:
            self.storages[storage._cdata] = storage  # held, so no later storage can reuse the key
            keys.add(storage._cdata)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self._track(tensor, self.regions[self.region])
        return tensor

    def _enter(self, name: str, args: tuple, kwargs: dict) -> None:
        self.region = name
        for leaf in tree_flatten((args, kwargs))[0]:
            if isinstance(leaf, torch.Tensor):
                self._track(leaf, self.block_inputs)

    def _leave(self, *_: Any) -> None:
        self.region = self.OUTSIDE

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Record the saved tensors of the forward run inside, with block boundaries from module hooks."""
        handles = []
        for name, block in self.blocks.items():
            handles.append(block.register_forward_pre_hook(lambda _, a, k, n=name: self._enter(n, a, k), with_kwargs=True))
            handles.append(block.register_forward_hook(self._leave))
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                yield
        finally:
            for handle in handles:
                handle.remove()

    def bytes(self, keys: set[int]) -> int:
        return sum(self.storages[k].nbytes() for k in keys)

    def total(self) -> int:
        """Everything saved: the activations that live until backward without checkpointing."""
        return self.bytes(set().union(*self.regions.values()))

    def block_bytes(self) -> dict[str, int]:
        return {name: self.bytes(self.regions[name]) for name in self.blocks}

    def checkpointed_peak(self) -> int:
        """Block checkpointing: what is kept (outside saves, block inputs) plus the largest block's recompute."""
        kept = self.regions[self.OUTSIDE] | self.block_inputs
        return max(self.bytes(kept | self.regions[name]) for name in self.blocks)


def build_unet(config: dict[str, Any], weights: torch.dtype, device: str) -> torch.nn.Module:
    """The UNet3D of `config` with base weights in `weights` and the trainer's LoRAs (float32)."""
    import diffusers

    with torch.device(device):
        unet = diffusers.UNet3DConditionModel(**config)
        # nn.Module.to: diffusers' override only adds a warning aimed at from_pretrained users.
        torch.nn.Module.to(unet, weights)
        add_training_adapters(unet, TrainConfig())
    return unet


def _inputs(unet: torch.nn.Module, frames: int, latent_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noisy latents (1, C, F, h, w), timesteps and prompt embeddings, random on `device`."""
    latents = torch.randn(1, unet.config.in_channels, frames, latent_size, latent_size, device=device)
    text = torch.randn(1, TEXT_TOKENS, unet.config.cross_attention_dim, device=device)
    return latents, torch.tensor([500], device=device), text


@contextmanager
def _path_state(unet: torch.nn.Module, temporal: bool) -> Iterator[None]:
    """The adapter state of the trainer's temporal path (spatial LoRA frozen, folded where the base
    weights are float32) or spatial path (motion LoRA off, spatial LoRA trainable)."""
    set_lora_enabled(unet, MOTION_ADAPTER, temporal)
    for param in lora_parameters(unet, SPATIAL_ADAPTER):
        param.requires_grad_(not temporal)
    try:
        with lora_folded(unet, SPATIAL_ADAPTER) if temporal else nullcontext():
            yield
    finally:
        set_lora_enabled(unet, MOTION_ADAPTER, True)


def _autocast(device: str, precision: Precision, fp32_ops: frozenset):
    """Real autocast on real tensors; the meta stand-ins (attention kernel, autocast casts) on meta."""
    if device == "meta":
        return MetaStandIns(torch.bfloat16 if precision.autocast else None, fp32_ops)
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision.autocast)


def _loss(unet: torch.nn.Module, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The trainer's prediction and MSE loss on noisy latents (the target is random noise)."""
    latents, timesteps, text = inputs
    return diffusion_loss(unet(latents, timesteps, encoder_hidden_states=text).sample, torch.randn_like(latents))


def measure(unet: torch.nn.Module, precision: Precision, frames: int, latent_size: int, device: str,
            temporal: bool = True, fp32_ops: frozenset = CUDA_FP32_OPS) -> tuple[SavedTensors, int]:
    """Saved tensors of one training forward (temporal or spatial path) and the bytes of weights
    the fold adds (folded copies kept next to the originals)."""
    inputs = _inputs(unet, frames, latent_size, device)
    before = {_storage(p)[0] for p in unet.parameters()}
    with _path_state(unet, temporal):
        params = {_storage(p)[0]: p.nbytes for p in unet.parameters()}
        saved = SavedTensors(unet, before | set(params))
        with saved.recording(), _autocast(device, precision, fp32_ops):
            _loss(unet, inputs)
    return saved, sum(size for key, size in params.items() if key not in before)


class LiveBytes(TorchDispatchMode):
    """Bytes of the tensor storages that ops run inside it create and that are still alive, and
    their peak: a real measurement of tensor memory. Outputs that alias an input (views, in-place
    results) are not new memory."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = self.peak = 0

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key)

    def __torch_dispatch__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {_storage(t)[0] for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                if storage._cdata not in inputs and storage._cdata not in self.live:
                    self.live[storage._cdata] = storage.nbytes()
                    self.current += storage.nbytes()
                    weakref.finalize(storage, self._free, storage._cdata)
        self.peak = max(self.peak, self.current)
        return out


def real_peak(unet: torch.nn.Module, precision: Precision, frames: int, latent_size: int) -> int:
    """Peak bytes of live tensors in a real temporal-path forward and backward of `unet` on the CPU
    (weights, LoRA and inputs, made before, not counted)."""
    inputs = _inputs(unet, frames, latent_size, "cpu")
    with _path_state(unet, True), LiveBytes() as live:
        with _autocast("cpu", precision, CPU_FP32_OPS):
            loss = _loss(unet, inputs)
        loss.backward()
    return live.peak


@dataclass(frozen=True)
class Validation:
    """Tiny-UNet3D checks of the method on the CPU, in bytes."""

    meta_saved: int
    real_saved: int
    estimate_checkpointed: int
    real_peak: int
    real_peak_checkpointed: int

    def ratios(self) -> dict[str, float]:
        return {
            "meta saved / real saved": self.meta_saved / self.real_saved,
            "estimate / real peak, no checkpointing": self.meta_saved / self.real_peak,
            "estimate / real peak, block checkpointing": self.estimate_checkpointed / self.real_peak_checkpointed,
        }


def validate(precision: Precision, frames: int = 8, latent_size: int = 16) -> Validation:
    """The method at a size that runs for real: tiny UNet3D, CPU autocast rules."""
    meta, cpu = (build_unet(TINY_UNET, torch.float32, device) for device in ("meta", "cpu"))
    meta_saved, _ = measure(meta, precision, frames, latent_size, "meta", fp32_ops=CPU_FP32_OPS)
    real_saved, _ = measure(cpu, precision, frames, latent_size, "cpu", fp32_ops=CPU_FP32_OPS)
    peak = real_peak(cpu, precision, frames, latent_size)
    enable_block_checkpointing(cpu)
    return Validation(meta_saved.total(), real_saved.total(), meta_saved.checkpointed_peak(), peak,
                      real_peak(cpu, precision, frames, latent_size))


@dataclass(frozen=True)
class Estimate:
    """Bytes of one precision recipe's training step, by component."""

    precision: Precision
    weights: int
    fold_copies: int
    lora_optimizer: int
    activations: int
    activations_checkpointed: int
    spatial_activations: int
    blocks: dict[str, int]

    def peak(self, checkpointing: bool) -> int:
        activations = self.activations_checkpointed if checkpointing else self.activations
        return self.weights + self.fold_copies + self.lora_optimizer + activations


def estimate(precision: Precision, frames: int, size: int) -> Estimate:
    """The ZeroScope estimate for `precision` at `frames` × `size`² pixels, batch 1."""
    unet = build_unet(ZEROSCOPE_UNET, precision.weights, "meta")
    lora = {id(p) for adapter in (MOTION_ADAPTER, SPATIAL_ADAPTER) for p in lora_parameters(unet, adapter)}
    base = sum(p.nbytes for p in unet.parameters() if id(p) not in lora)
    # float32 weight, gradient and the two AdamW moments per LoRA parameter.
    lora_optimizer = 4 * 4 * sum(p.numel() for p in unet.parameters() if id(p) in lora)
    temporal, fold_copies = measure(unet, precision, frames, size // VAE_SCALE, "meta")
    spatial, _ = measure(unet, precision, 1, size // VAE_SCALE, "meta", temporal=False)
    return Estimate(
        precision, base, fold_copies, lora_optimizer, temporal.total(), temporal.checkpointed_peak(),
        spatial.total(), temporal.block_bytes(),
    )


def _gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def table(estimates: list[Estimate]) -> str:
    """The markdown table: one row per precision recipe and checkpointing setting."""
    rows = ["| setting | weights | LoRA+optimizer | activations | peak (GiB) |", "|---|---|---|---|---|"]
    for e in estimates:
        for checkpointing in (False, True):
            activations = e.activations_checkpointed if checkpointing else e.activations
            weights = _gib(e.weights) + (f" + {_gib(e.fold_copies)} folded" if e.fold_copies else "")
            label = f"{e.precision.name}, {'block checkpointing' if checkpointing else 'no checkpointing'}"
            rows.append(f"| {label} | {weights} | {_gib(e.lora_optimizer)} | {_gib(activations)} | {_gib(e.peak(checkpointing))} |")
    return "\n".join(rows)


def _details(estimates: list[Estimate], checks: dict[str, Validation], args: argparse.Namespace) -> dict[str, Any]:
    """What `--record` stores next to the value: both peaks per recipe, the breakdown, the method."""
    def gib(n: int) -> float:
        return round(n / GIB, 3)

    return {
        "estimate": True,
        "unit": "GiB",
        "setting": f"{args.frames} frames {args.size}x{args.size}, batch 1, tap-k rank 16, dual path; value: {BF16.name}, no checkpointing",
        "method": "bytes autograd saves in the temporal-path forward, counted by storage with saved_tensors_hooks on meta tensors "
                  "(fused-attention and CUDA-autocast stand-ins); block checkpointing = outside saves + block inputs + largest block",
        "peak_gib": {e.precision.name: {"no checkpointing": gib(e.peak(False)), "block checkpointing": gib(e.peak(True))} for e in estimates},
        "breakdown_gib": {
            e.precision.name: {
                "weights": gib(e.weights), "folded_weight_copies": gib(e.fold_copies), "lora_optimizer": gib(e.lora_optimizer),
                "activations": gib(e.activations), "activations_checkpointed": gib(e.activations_checkpointed),
                "spatial_path_activations": gib(e.spatial_activations),
            }
            for e in estimates
        },
        "validation_tiny_cpu": {name: {k: round(v, 4) for k, v in check.ratios().items()} for name, check in checks.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=384, help="square frame side in pixels (latents are size/8)")
    parser.add_argument("--record", action="store_true", help="store the result in benchmarks/results.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    estimates = [estimate(p, args.frames, args.size) for p in (FP32, BF16)]
    checks = {p.name: validate(p) for p in (FP32, BF16)}
    latent = args.size // VAE_SCALE
    print(f"ZeroScope v2 576w UNet3D, {args.frames} frames {args.size}x{args.size} (latents {latent}x{latent}), batch 1, "
          "tap-k rank 16, dual path. ESTIMATE from saved-tensor counts on the meta device, not a measurement.\n")
    print(table(estimates))
    print()
    for e in estimates:
        largest = max(e.blocks, key=e.blocks.get)
        print(f"{e.precision.name}: spatial path (1 frame) activations {_gib(e.spatial_activations)} GiB; "
              f"largest block {largest} {_gib(e.blocks[largest])} GiB")
    for name, check in checks.items():
        ratios = ", ".join(f"{k} {v:.3f}" for k, v in check.ratios().items())
        print(f"validation, tiny UNet3D on the CPU, {name}: {ratios}")
    if args.record:
        record("zeroscope_peak_memory_estimate_gb", estimates[1].peak(False) / GIB,
               "ZeroScope v2 576w UNet3D config, random weights (meta)", _details(estimates, checks, args))


if __name__ == "__main__":
    main()
