"""What a motion adapter folder holds besides its tensors, readable without torch: the file names
and `motion.json` (`MotionAdapterInfo`), and a check of the weights file for the steps that pass an
adapter on without loading it (registration)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from motionlora import __version__
from motionlora.finite import check_tensor_file
from motionlora.motion.highway_settings import HighwayScope, HighwaySettings
from motionlora.motion.presets import PRESETS

WEIGHTS_NAME = "adapter_model.safetensors"
CONFIG_NAME = "adapter_config.json"
MOTION_NAME = "motion.json"
FORMAT = "motionlora.motion-adapter/1"


@dataclass(frozen=True)
class MotionAdapterInfo:
    """The contents of `motion.json`."""

    preset: str
    rank: int
    alpha: float
    base_model: dict[str, str]
    highway_scope: HighwayScope = HighwaySettings().scope
    highway_beta: float = HighwaySettings().beta
    pli_tau: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    motionlora_version: str = __version__

    @classmethod
    def read(cls, adapter_dir: str | Path) -> "MotionAdapterInfo":
        path = Path(adapter_dir) / MOTION_NAME
        if not path.exists():
            raise FileNotFoundError(f"{adapter_dir} is not a motion adapter: {MOTION_NAME} is missing")
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
        if data.get("preset") not in PRESETS:
            raise ValueError(f"{path}: preset {data.get('preset')!r} is not one of {sorted(PRESETS)}")
        return cls(**data)

    @property
    def highway_settings(self) -> HighwaySettings:
        """The appearance highway the adapter is sampled with unless a caller says otherwise."""
        return HighwaySettings(self.highway_scope, self.highway_beta)

    def write(self, adapter_dir: Path) -> None:
        (adapter_dir / MOTION_NAME).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")


def weights_path(adapter_dir: str | Path) -> Path:
    """The adapter's weights file, which must exist."""
    path = Path(adapter_dir) / WEIGHTS_NAME
    if not path.exists():
        raise FileNotFoundError(f"{adapter_dir} is not a motion adapter: {WEIGHTS_NAME} is missing")
    return path


def check_adapter_weights(adapter_dir: str | Path) -> None:
    """Refuse, without loading torch, what `adapter.read_adapter_weights` refuses: a missing or
    unreadable weights file, a tensor holding a NaN or infinity."""
    check_tensor_file(weights_path(adapter_dir), "load")
