"""A motion adapter as an MLflow model: `mlflow.pyfunc.load_model(uri).predict(...)` returns videos.

What is logged (MLflow "models from code", so nothing is pickled — the house rule for weights holds
for the model object too):
* `adapter/` — the adapter folder as trained (peft safetensors, adapter_config.json, motion.json);
* `base_model/` — the base model's diffusers folder, when it is smaller than
  `INCLUDE_BASE_MODEL_BELOW` bytes (the tiny and shapes-world models); a large base model (ZeroScope)
  is referenced instead by its id/path in the model config, and its UNet hash in motion.json is
  checked when the model loads, so a different base is refused rather than silently used;
* the `motionlora` package source (`code_paths`), and pip requirements pinned to the versions
  installed where the model was logged;
* a signature. Input: a table with a `prompt` (string) and an optional `seed` (integer) per row.
  Params (optional, per call): `steps`, `guidance_scale`, `frames`, `highway`, `beta`, `fps`,
  defaulting to the sampling settings the model was evaluated with. Output: one row per input row
  with `prompt`, `seed` and `video_mp4` — the video as H.264 mp4 bytes (playable and compact,
  and binary columns travel through MLflow's REST scoring as base64).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow.pyfunc

INCLUDE_BASE_MODEL_BELOW = 256 * 2**20
MODEL_CODE = Path(__file__).with_name("model_code.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Distributions the model needs at load time, pinned to what is installed when it is logged.
REQUIREMENTS = (
    "torch", "diffusers", "peft", "transformers", "accelerate", "safetensors", "huggingface-hub",
    "numpy", "pandas", "pyyaml", "tqdm", "fsspec", "imageio", "imageio-ffmpeg", "opencv-python-headless",
    "scipy", "mlflow",
)
# Sampling settings a caller may pass as params; the rest come from the logged defaults.
PARAMS = {"steps": ("long", 25), "guidance_scale": ("double", 7.5), "frames": ("long", 16),
          "highway": ("string", "off"), "beta": ("double", 1.0), "fps": ("double", 8.0)}


def pinned_requirements() -> list[str]:
    """`name==version` for every distribution in REQUIREMENTS that is installed here, without a local
    build label (`torch==2.13.0`, not `2.13.0+cpu`, which a GPU server or a plain index cannot serve)."""
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def signature(defaults: Mapping[str, Any]) -> Any:
    """Input prompt (+ optional seed), params with the logged defaults, output mp4 bytes per row."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    params = [ParamSpec(name, kind, defaults.get(name, default)) for name, (kind, default) in PARAMS.items()]
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt"), ColSpec("long", "seed", required=False)]),
        outputs=Schema([ColSpec("string", "prompt"), ColSpec("long", "seed"), ColSpec("binary", "video_mp4")]),
        params=ParamSchema(params),
    )


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def log_motion_model(adapter_dir: str | Path, base_model: str, sampling: Mapping[str, Any], name: str = "model") -> Any:
    """Log the adapter as a pyfunc model in the active MLflow run; returns MLflow's ModelInfo.

    `sampling` holds the defaults for the PARAMS (the settings the adapter was evaluated with).
    """
    from motionlora.models import resolve_model_dir

    artifacts = {"adapter": str(adapter_dir)}
    base_dir = resolve_model_dir(base_model)
    if _folder_size(base_dir) < INCLUDE_BASE_MODEL_BELOW:
        artifacts["base_model"] = str(base_dir)
    defaults = {key: sampling[key] for key in PARAMS if sampling.get(key) is not None}
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(MODEL_CODE),
        artifacts=artifacts,
        model_config={"base_model": str(base_model), "sampling": defaults},
        code_paths=[str(PACKAGE_DIR)],
        signature=signature(defaults),
        pip_requirements=pinned_requirements(),
    )


class MotionVideoModel(mlflow.pyfunc.PythonModel):
    """Loads the base model and the adapter once; each predicted row is one sampled video."""

    def load_context(self, context: Any) -> None:
        import torch

        from motionlora.models import load_t2v_model
        from motionlora.motion.adapter import load_motion_adapter

        config = context.model_config or {}
        base = context.artifacts.get("base_model") or config["base_model"]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_t2v_model(base, device=device)
        self.info = load_motion_adapter(self.model.unet, context.artifacts["adapter"], self.model.identity)
        self.defaults = {"highway": self.info.highway_scope, "beta": self.info.highway_beta, **config.get("sampling", {})}

    def predict(self, context, model_input, params=None):  # no hints: MLflow would derive a schema from them
        """One video per row of `model_input` (a DataFrame or records with `prompt`, optional `seed`)."""
        import pandas as pd

        from motionlora.data.video import write_video
        from motionlora.generate import SamplingConfig, generate_video

        settings = {**self.defaults, **(params or {})}
        fps = float(settings.pop("fps", 8.0))
        fields = {f.name for f in dataclasses.fields(SamplingConfig)}
        sampling = SamplingConfig(pli_tau=self.info.pli_tau, **{k: v for k, v in settings.items() if k in fields})
        rows = []
        with tempfile.TemporaryDirectory(prefix="motionlora-predict-") as tmp:
            for i, row in enumerate(pd.DataFrame(model_input).to_dict("records")):
                seed = int(row["seed"]) if pd.notna(row.get("seed")) else 0
                frames = generate_video(self.model, str(row["prompt"]), sampling, seed=seed)
                path = write_video(Path(tmp) / f"{i}.mp4", frames, fps)
                rows.append({"prompt": row["prompt"], "seed": seed, "video_mp4": path.read_bytes()})
        return pd.DataFrame(rows, columns=["prompt", "seed", "video_mp4"])
