"""peft LoRA plumbing shared by the motion and spatial adapters.

Both adapters are injected with `peft.inject_adapter_in_model` on explicit, fully qualified module
names (never suffix patterns), so a preset can never silently catch a module it does not name.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer


def inject_lora(
    model: torch.nn.Module, targets: list[str], adapter_name: str, rank: int, alpha: float, dropout: float
) -> LoraConfig:
    """Inject a LoRA named `adapter_name` on exactly the modules `targets`; returns its config."""
    if not targets:
        raise ValueError(f"no target modules for LoRA adapter {adapter_name!r}")
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=sorted(targets), init_lora_weights=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        inject_adapter_in_model(config, model, adapter_name=adapter_name)
    _activate_every_adapter(model)
    return config


def _activate_every_adapter(model: torch.nn.Module) -> None:
    """Make every LoRA layer run all the adapters it holds, keeping each weight's requires_grad.

    peft's injection makes the newest adapter the only active one in *every* LoRA layer, which
    would silently switch off the motion LoRA when the spatial one is added after it.
    """
    for module in model.modules():
        if isinstance(module, LoraLayer):
            grads = [(p, p.requires_grad) for p in module.parameters()]
            module.set_adapter(list(module.lora_A.keys()))
            for param, requires_grad in grads:
                param.requires_grad_(requires_grad)


def lora_modules(model: torch.nn.Module, adapter_name: str) -> dict[str, LoraLayer]:
    """Every LoRA-wrapped module of `model` that holds the adapter `adapter_name`, by name."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, LoraLayer) and adapter_name in module.lora_A
    }


def lora_parameters(model: torch.nn.Module, adapter_name: str) -> list[torch.nn.Parameter]:
    """The LoRA A/B weights of `adapter_name`, in module order."""
    params = []
    for module in lora_modules(model, adapter_name).values():
        params.extend(module.lora_A[adapter_name].parameters())
        params.extend(module.lora_B[adapter_name].parameters())
    return params


def set_lora_scale(model: torch.nn.Module, adapter_name: str, scale: float) -> None:
    """Multiply the adapter's update by `scale` (1 = as trained)."""
    for module in lora_modules(model, adapter_name).values():
        module.set_scale(adapter_name, scale)


@contextmanager
def lora_scale(model: torch.nn.Module, adapter_name: str, scale: float) -> Iterator[None]:
    """Run with the adapter's update scaled by `scale`, then restore scale 1."""
    set_lora_scale(model, adapter_name, scale)
    try:
        yield
    finally:
        set_lora_scale(model, adapter_name, 1.0)


def set_lora_enabled(model: torch.nn.Module, adapter_name: str, enabled: bool) -> None:
    """Switch the adapter's branch on or off; off skips its compute entirely.

    peft's `enable_adapters` also resets `requires_grad` (off freezes, on unfreezes), so the
    trainer re-enables an adapter before optimising it.
    """
    for module in lora_modules(model, adapter_name).values():
        module.enable_adapters(enabled)


@contextmanager
def lora_enabled(model: torch.nn.Module, adapter_name: str, enabled: bool) -> Iterator[None]:
    """Run with the adapter switched on or off, then restore the previous state."""
    modules = lora_modules(model, adapter_name).values()
    before = [not m.disable_adapters for m in modules]
    set_lora_enabled(model, adapter_name, enabled)
    try:
        yield
    finally:
        for module, was_enabled in zip(modules, before):
            module.enable_adapters(was_enabled)


@contextmanager
def lora_folded(model: torch.nn.Module, adapter_name: str) -> Iterator[None]:
    """Run with the (frozen) adapter folded into its layers' base weights and its branch off, then
    put the original weight tensors back — the same objects, so nothing drifts over many steps.

    Why: a LoRA branch costs two extra matmuls forward and two backward per call even when its
    weights are frozen; folded in, the layer costs what the base layer costs. Only layers that hold
    this adapter alone and have float32 base weights are folded: rounding a small update into
    bf16/fp16 weights would change what the step computes.
    """
    modules = [
        module for module in lora_modules(model, adapter_name).values()
        if set(module.lora_A) == {adapter_name} and not module.disable_adapters
        and module.get_base_layer().weight.dtype == torch.float32
    ]
    requires_grad = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    originals = [module.get_base_layer().weight for module in modules]
    with torch.no_grad():
        for module, original in zip(modules, originals):
            folded = original + module.get_delta_weight(adapter_name).to(original.device)
            module.get_base_layer().weight = torch.nn.Parameter(folded, requires_grad=False)
            module.enable_adapters(False)
    try:
        yield
    finally:
        for module, original in zip(modules, originals):
            module.get_base_layer().weight = original
            module.enable_adapters(True)
        for param, flag in requires_grad:
            param.requires_grad_(flag)


def remove_lora(model: torch.nn.Module, adapter_name: str) -> int:
    """Put the base module back wherever `adapter_name` is the only adapter; returns how many.

    Afterwards the model's module tree is the base model's again at those places.
    """
    removed = 0
    for name, module in list(lora_modules(model, adapter_name).items()):
        module.delete_adapter(adapter_name)
        if not module.lora_A:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
        removed += 1
    return removed
