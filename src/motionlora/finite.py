"""NaN and infinity guards for the tensors that leave or enter a process: checkpoints and adapters.

A NaN weight does not always show in the loss (on the CPU, attention quietly drops NaN keys), so
every file of weights is checked on its way to disk and on its way back, naming the tensor. A file
that is not safetensors at all (cut short, overwritten) is refused the same way, naming the file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    import torch


class NonFiniteTensorError(ValueError):
    """A file of weights (adapter, checkpoint) holds, or would hold, a NaN or infinite value."""


def nonfinite_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the tensors holding at least one NaN or infinity, in `tensors`' order."""
    import torch

    return [name for name, tensor in tensors.items() if not bool(torch.isfinite(tensor).all())]


def describe_nonfinite(names: Sequence[str]) -> str:
    """How an error names the non-finite tensors: `tensor 'first' (and N more) holds NaN or infinite values`."""
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return f"tensor {names[0]!r}{more} holds NaN or infinite values"


def _refuse(bad: Sequence[str], path: str | Path, action: str, advice: str) -> None:
    if bad:
        raise NonFiniteTensorError(f"{path}: refusing to {action} it: {describe_nonfinite(bad)}" + (f"; {advice}" if advice else ""))


def require_finite(tensors: Mapping[str, torch.Tensor], path: str | Path, action: str, advice: str = "") -> None:
    """Refuse to `action` ("write", "load", ...) the file `path` when one of its tensors is not finite;
    `advice` (what to do instead) ends the message."""
    _refuse(nonfinite_names(tensors), path, action, advice)


def _load(path: str | Path, action: str, advice: str, framework: str) -> dict[str, Any]:
    """The tensors of the safetensors file `path` as `framework` ("torch" or "numpy") arrays, refused
    (a ValueError naming the file) when it does not parse."""
    from safetensors import SafetensorError

    try:
        return importlib.import_module(f"safetensors.{framework}").load_file(path)
    except SafetensorError as err:
        raise ValueError(f"{path}: refusing to {action} it: not a readable safetensors file ({err})"
                         + (f"; {advice}" if advice else "")) from None


def read_tensors(path: str | Path, action: str, advice: str = "", finite: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file `path`, refused (a ValueError naming the file) when it does
    not parse or, with `finite`, when one of them is not finite."""
    tensors = _load(path, action, advice, "torch")
    if finite:
        require_finite(tensors, path, action, advice)
    return tensors


def check_tensor_file(path: str | Path, action: str, advice: str = "") -> None:
    """`read_tensors`' checks, read with numpy instead of torch: for steps that pass a file of weights
    on without loading them (registration), and so start without torch. A file holding a dtype numpy
    lacks (bfloat16, float8) is checked by `read_tensors` instead."""
    import numpy as np

    try:
        arrays = _load(path, action, advice, "numpy")
    except TypeError:  # safetensors' numpy reader names the dtype it cannot map
        read_tensors(path, action, advice)
        return
    _refuse([name for name, array in arrays.items() if not np.isfinite(array).all()], path, action, advice)
