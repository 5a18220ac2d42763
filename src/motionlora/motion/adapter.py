"""Motion adapters on disk, peft style: `adapter_model.safetensors` + `adapter_config.json`, plus
`motion.json` with what peft does not know (preset, highway defaults, the base model's identity).

Loading checks the base model first: a motion LoRA re-shapes one model's temporal attention, and on
other weights it would produce some other motion without any error. Weights holding a NaN or
infinity are refused both ways (`adapter_info.check_adapter_weights` is the check for readers that
do not load). The file names and motion.json live in `adapter_info.py`, which needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import save_file

from motionlora.finite import read_tensors, require_finite
from motionlora.models.identity import ModelIdentity, identity_mismatch
from motionlora.motion.adapter_info import CONFIG_NAME, WEIGHTS_NAME, MotionAdapterInfo, weights_path
from motionlora.motion.highway_settings import HighwaySettings
from motionlora.motion.lora import inject_lora, lora_modules
from motionlora.motion.presets import MOTION_ADAPTER
from motionlora.motion.tap import motion_lora_targets


class AdapterMismatchError(ValueError):
    """The adapter was trained on another base model than the one it is being loaded onto."""


def save_motion_adapter(
    unet: torch.nn.Module,
    out_dir: str | Path,
    identity: ModelIdentity,
    preset: str,
    highway: HighwaySettings = HighwaySettings(),
    pli_tau: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the motion LoRA of `unet` (adapter `motion`) as a peft-format adapter folder; refuses
    (before creating the folder) weights holding a NaN or infinity."""
    modules = lora_modules(unet, MOTION_ADAPTER)
    if not modules:
        raise ValueError("the UNet carries no motion LoRA to save (apply_motion_lora first)")
    first = next(iter(modules.values()))
    config = LoraConfig(
        r=first.r[MOTION_ADAPTER],
        lora_alpha=first.lora_alpha[MOTION_ADAPTER],
        lora_dropout=0.0,
        target_modules=sorted(modules),
    )
    out = Path(out_dir)
    state = get_peft_model_state_dict(unet, adapter_name=MOTION_ADAPTER)
    weights = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    require_finite(weights, out / WEIGHTS_NAME, "write")
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / WEIGHTS_NAME)
    config.save_pretrained(out)
    MotionAdapterInfo(
        preset=preset,
        rank=config.r,
        alpha=float(config.lora_alpha),
        base_model=identity.to_dict(),
        highway_scope=highway.scope,
        highway_beta=highway.beta,
        pli_tau=pli_tau,
        extra=dict(extra or {}),
    ).write(out)
    return out


def check_base_model(info: MotionAdapterInfo, identity: ModelIdentity, adapter_dir: str | Path) -> None:
    """Refuse an adapter whose recorded base model differs from `identity`."""
    mismatch = identity_mismatch(info.base_model, identity)
    if mismatch is not None:
        raise AdapterMismatchError(
            f"adapter {adapter_dir} was trained on a base model with {mismatch.what} hash {mismatch.recorded} "
            f"({info.base_model.get('source')}), but the loaded base model {identity.source} has {mismatch.what} hash "
            f"{mismatch.actual}"
        )


def read_adapter_weights(adapter_dir: str | Path) -> dict[str, torch.Tensor]:
    """The adapter's LoRA tensors, refused when one holds a NaN or infinity."""
    return read_tensors(weights_path(adapter_dir), "load")


def load_motion_adapter(unet: torch.nn.Module, adapter_dir: str | Path, identity: ModelIdentity) -> MotionAdapterInfo:
    """Inject the adapter in `adapter_dir` into `unet` (adapter `motion`, frozen) after checking its base
    and that its weights are finite."""
    adapter_dir = Path(adapter_dir)
    info = MotionAdapterInfo.read(adapter_dir)
    check_base_model(info, identity, adapter_dir)
    if lora_modules(unet, MOTION_ADAPTER):
        raise ValueError("the UNet already carries a motion LoRA; load the adapter onto a fresh base model")
    config = LoraConfig.from_pretrained(str(adapter_dir))
    check_targets(config, info, unet, adapter_dir / CONFIG_NAME)
    state = read_adapter_weights(adapter_dir)
    inject_lora(unet, list(config.target_modules), MOTION_ADAPTER, config.r, config.lora_alpha, 0.0)
    try:
        result = set_peft_model_state_dict(unet, state, adapter_name=MOTION_ADAPTER)
    except RuntimeError as err:
        shapes = "; ".join(line.strip() for line in str(err).splitlines() if "size mismatch" in line)
        raise ValueError(f"{adapter_dir / WEIGHTS_NAME} does not fit its config: {shapes or err}") from None
    absent = [k for k in result.missing_keys if f".lora_A.{MOTION_ADAPTER}." in k or f".lora_B.{MOTION_ADAPTER}." in k]
    if absent or result.unexpected_keys:
        raise ValueError(
            f"{adapter_dir / WEIGHTS_NAME} does not match its config: missing {absent[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )
    unet.requires_grad_(False)
    return info


def check_targets(config: LoraConfig, info: MotionAdapterInfo, unet: torch.nn.Module, path: Path) -> None:
    """Refuse an adapter config that changes more than its preset may: a target outside the preset's
    modules (a TAP preset's Value or output projection, spatial attention, `conv_in`, ...), extra
    trainable modules, or a pattern instead of explicit names. Such an adapter would be applied
    while `motion.json` still claims the preset, and the method's guarantee would be silently gone."""
    if isinstance(config.target_modules, str) or config.modules_to_save:
        raise ValueError(f"{path}: target_modules must be an explicit list and modules_to_save empty; "
                         f"got target_modules={config.target_modules!r}, modules_to_save={config.modules_to_save!r}")
    missing = sorted(t for t in config.target_modules if not _has_module(unet, t))
    if missing:
        raise AdapterMismatchError(f"adapter {path.parent} targets modules the base UNet does not have: {missing[:5]}")
    outside = sorted(set(config.target_modules) - set(motion_lora_targets(unet, info.preset)))
    if outside:
        raise ValueError(f"{path}: {len(outside)} target module(s) outside what preset {info.preset!r} allows, "
                         f"e.g. {outside[:3]}; refusing to load an adapter that is not what motion.json says")


def _has_module(model: torch.nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True
