"""Checkpoints a killed run can resume from: LoRA weights, optimizer, schedules, RNG states, step.

Tensors go to safetensors, everything else to JSON: nothing is pickled, so loading a checkpoint
cannot run code. A checkpoint is written into a hidden temporary folder, flushed to disk, then
renamed into place in one `os.rename`; a folder named `step-NNNNNNNN` is therefore always complete,
and a run killed mid-write leaves only a temporary folder that the next start removes. LoRA weights
and optimizer moments holding a NaN or infinity are refused both ways: such a checkpoint is never
written, and one found on disk is never resumed from. (The RNG file is not checked: Python's RNG
state records "no cached gaussian" as NaN.) A checkpoint that cannot be read — truncated or
corrupted on disk, or holding a NaN — is skipped with a warning naming it, and the run resumes
from the newest intact one before it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from motionlora.finite import read_tensors, require_finite

CHECKPOINTS_DIR = "checkpoints"
LORA_FILE = "lora.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"
_PREFIX = "step-"
_TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    return f"{_PREFIX}{step:08d}"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back: `state` is the JSON part (step, config, schedules, ...)."""

    path: Path
    step: int
    lora: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, torch.Tensor]
    state: dict[str, Any]


def optimizer_to_files(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into its tensors (safetensors) and the rest (JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param_id, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain_state": plain}


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `optimizer_to_files`."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = tensor
    for param_id, values in meta["plain_state"].items():
        state.setdefault(int(param_id), {}).update(values)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def capture_rng() -> dict[str, torch.Tensor]:
    """This process's torch (and CUDA), numpy and Python RNG states, as fixed-shape tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": torch.tensor([pos, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([cached], dtype=torch.float64),
        "python_state": torch.tensor([version, *internal], dtype=torch.int64),
        "python_gauss": torch.tensor([float("nan") if gauss is None else gauss], dtype=torch.float64),
    }
    if kind != "MT19937":
        raise RuntimeError(f"numpy's global RNG is {kind}, not MT19937")
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, torch.Tensor]) -> None:
    """Put back what `capture_rng` recorded."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    pos, has_gauss = (int(v) for v in state["numpy_pos"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, float(state["numpy_gauss"][0])))
    version, *internal = (int(v) for v in state["python_state"])
    gauss = float(state["python_gauss"][0])
    random.setstate((version, tuple(internal), None if gauss != gauss else gauss))


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    out_dir: Path,
    step: int,
    lora: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    rng_by_rank: list[dict[str, torch.Tensor]],
    state: dict[str, Any],
) -> Path:
    """Write checkpoint `step` under `out_dir/checkpoints/` atomically; returns its folder.

    Refuses (before creating anything) LoRA weights or optimizer state holding a NaN or infinity,
    so the checkpoints already there stay the newest finite ones."""
    root = Path(out_dir) / CHECKPOINTS_DIR
    final = root / checkpoint_name(step)
    weights = {k: v.detach().cpu().contiguous() for k, v in lora.items()}
    opt_tensors, opt_meta = optimizer_to_files(optimizer)
    require_finite(weights, final / LORA_FILE, "write")
    require_finite(opt_tensors, final / OPTIMIZER_FILE, "write")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP_PREFIX}{checkpoint_name(step)}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(weights, tmp / LORA_FILE)
    save_file(opt_tensors, tmp / OPTIMIZER_FILE)
    save_file({f"rank{r}.{k}": v.contiguous() for r, rng in enumerate(rng_by_rank) for k, v in rng.items()}, tmp / RNG_FILE)
    payload = {**state, "step": step, "world_size": len(rng_by_rank), "optimizer": opt_meta}
    (tmp / STATE_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    _fsync_tree(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    return final


def list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `out_dir`, oldest first."""
    root = Path(out_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        suffix = path.name[len(_PREFIX):]
        if path.name.startswith(_PREFIX) and suffix.isdigit() and (path / STATE_FILE).exists():
            found.append((int(suffix), path))
    return sorted(found)


def latest_checkpoint(out_dir: Path) -> tuple[int, Path] | None:
    """(step, folder) of the newest complete checkpoint, or None."""
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def newest_intact_checkpoint(out_dir: Path, rank: int, warn: Callable[[str], None]) -> Checkpoint | None:
    """The newest checkpoint that loads, or None; `warn` is told about each broken one skipped."""
    for _, path in reversed(list_checkpoints(out_dir)):
        try:
            return load_checkpoint(path, rank)
        except (OSError, ValueError, KeyError, SafetensorError) as err:
            warn(f"checkpoint {path} is broken ({err}); trying the one before it")
    return None


def remove_stale(out_dir: Path) -> None:
    """Delete temporary folders that a killed run left half-written."""
    root = Path(out_dir) / CHECKPOINTS_DIR
    if root.is_dir():
        for path in root.glob(f"{_TMP_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Keep only the newest `keep` checkpoints."""
    for _, path in list_checkpoints(out_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(path: Path, rank: int) -> Checkpoint:
    """Read a checkpoint; `rng` is rank `rank`'s (empty when the checkpoint has no such rank).

    Refuses LoRA weights or optimizer state holding a NaN or infinity, naming the file and tensor."""
    path = Path(path)
    state = json.loads((path / STATE_FILE).read_text())
    prefix = f"rank{rank}."
    rng = {k[len(prefix):]: v for k, v in load_file(path / RNG_FILE).items() if k.startswith(prefix)}
    advice = f"delete {path} to resume from the checkpoint before it, or train into a fresh --out"
    lora = read_tensors(path / LORA_FILE, "resume from", advice)
    opt_tensors = read_tensors(path / OPTIMIZER_FILE, "resume from", advice)
    optimizer = optimizer_from_files(opt_tensors, state["optimizer"])
    return Checkpoint(path, int(state["step"]), lora, optimizer, rng, state)
