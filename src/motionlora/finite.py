"""NaN and infinity guards for the tensors that leave or enter a process: checkpoints and adapters.

A NaN weight does not always show in the loss (on the CPU, attention quietly drops NaN keys), so
every file of weights is checked on its way to disk and on its way back, naming the tensor. A file
that is not safetensors at all (cut short, overwritten) is refused the same way, naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch


class NonFiniteTensorError(ValueError):
    """A file of weights (adapter, checkpoint) holds, or would hold, a NaN or infinite value."""


def nonfinite_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the tensors holding at least one NaN or infinity, in `tensors`' order."""
    return [name for name, tensor in tensors.items() if not bool(torch.isfinite(tensor).all())]


def describe_nonfinite(names: Sequence[str]) -> str:
    """How an error names the non-finite tensors: `tensor 'first' (and N more) holds NaN or infinite values`."""
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return f"tensor {names[0]!r}{more} holds NaN or infinite values"


def require_finite(tensors: Mapping[str, torch.Tensor], path: str | Path, action: str, advice: str = "") -> None:
    """Refuse to `action` ("write", "load", ...) the file `path` when one of its tensors is not finite;
    `advice` (what to do instead) ends the message."""
    bad = nonfinite_names(tensors)
    if bad:
        raise NonFiniteTensorError(f"{path}: refusing to {action} it: {describe_nonfinite(bad)}" + (f"; {advice}" if advice else ""))


def read_tensors(path: str | Path, action: str, advice: str = "", finite: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file `path`, refused (a ValueError naming the file) when it does
    not parse or, with `finite`, when one of them is not finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except SafetensorError as err:
        raise ValueError(f"{path}: refusing to {action} it: not a readable safetensors file ({err})"
                         + (f"; {advice}" if advice else "")) from None
    if finite:
        require_finite(tensors, path, action, advice)
    return tensors
