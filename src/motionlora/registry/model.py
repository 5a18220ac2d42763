"""A motion adapter as an MLflow model: `mlflow.pyfunc.load_model(uri).predict(...)` returns videos.

What is logged (MLflow "models from code", so nothing is pickled — the house rule for weights holds
for the model object too):
* `adapter/` — the adapter folder as trained (peft safetensors, adapter_config.json, motion.json);
* `base_model/` — the base model's diffusers folder, when it is smaller than
  `INCLUDE_BASE_MODEL_BELOW` bytes (the tiny and shapes-world models); the model loads it from there.
  A large base model (ZeroScope) is referenced by its hub id (or URL) instead. Either way the model
  config's `base_model` is the base's identity — `source` (a hub id or URL as given; a local folder
  by its name only, never a path of the machine that logged it) and the UNet weight and
  architecture hashes of models/identity.py — and motion.json's hashes are checked when the model
  loads, so a different base is refused rather than silently used. A large base that was a local
  folder cannot travel with the model: load it with `model_config={"base_model": "<folder or hub id>"}`
  (or MLFLOW_PYFUNC_INFERENCE_CONFIG for `mlflow models serve`);
* the `motionlora` package source (`code_paths`), and pip requirements pinned to the versions
  installed where the model was logged;
* a signature and an input example (one row: a prompt and a seed). Input: a table with a `prompt`
  (string) and an optional `seed` (integer) per row. Params (optional, per call): `steps`,
  `guidance_scale`, `frames`, `highway`, `beta`, `fps`, defaulting to the sampling settings the
  model was evaluated with. Output: one row per input row with `prompt`, `seed` and `video_mp4` —
  the video as H.264 mp4 bytes (playable and compact, and binary columns travel through MLflow's
  REST scoring as base64). MLflow would check the example by loading the model and sampling a
  video while logging (minutes for a large base); the signature already states the schema, so
  that check is skipped (`validate_serving_input=False`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow.pyfunc

from motionlora.models.identity import base_model_source, is_remote_reference

INCLUDE_BASE_MODEL_BELOW = 256 * 2**20
MODEL_CODE = Path(__file__).with_name("model_code.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Distributions the model needs at load time, pinned to what is installed when it is logged.
REQUIREMENTS = (
    "torch", "diffusers", "peft", "transformers", "accelerate", "safetensors", "huggingface-hub",
    "numpy", "pandas", "pyyaml", "tqdm", "fsspec", "imageio", "imageio-ffmpeg", "opencv-python-headless",
    "scipy", "mlflow",
)
EXAMPLE_PROMPT = "a red circle bouncing on a black background"
# Sampling settings a caller may pass as params, with their MLflow types; their defaults are logged
# with the model (the settings it was evaluated with, else the adapter's and the sampler's own).
PARAMS = {"steps": "long", "guidance_scale": "double", "frames": "long", "highway": "string", "beta": "double",
          "fps": "double"}
DEFAULT_FPS = 8.0


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

    params = [ParamSpec(name, kind, defaults[name]) for name, kind in PARAMS.items()]
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt"), ColSpec("long", "seed", required=False)]),
        outputs=Schema([ColSpec("string", "prompt"), ColSpec("long", "seed"), ColSpec("binary", "video_mp4")]),
        params=ParamSchema(params),
    )


def input_example() -> Any:
    """The example the model page shows: one row, a prompt and a seed."""
    import pandas as pd

    return pd.DataFrame([{"prompt": EXAMPLE_PROMPT, "seed": 0}])


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class _PyfuncFlavor:
    """`mlflow.pyfunc` as the flavor of `mlflow.models.Model.log`, which is what `mlflow.pyfunc.log_model`
    calls, plus two things log_model cannot say: `validate_serving_input=False` (Model.log reads it;
    pyfunc's save_model would refuse it), and no path of this machine in MLmodel: MLflow records
    where each artifact and the model code were copied from, which nothing reads back (the code is
    found by its file name), so they become names."""

    __name__ = "mlflow.pyfunc"

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)

    def save_model(self, path: str, mlflow_model: Any, validate_serving_input: bool = True, **kwargs: Any) -> None:
        from mlflow.models.model import MLMODEL_FILE_NAME, MODEL_CODE_PATH
        from mlflow.pyfunc import FLAVOR_NAME

        mlflow.pyfunc.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        flavor = mlflow_model.flavors[FLAVOR_NAME]
        for key, entry in flavor.get("artifacts", {}).items():
            entry["uri"] = self.sources.get(key, key)
        if flavor.get(MODEL_CODE_PATH):
            flavor[MODEL_CODE_PATH] = Path(flavor[MODEL_CODE_PATH]).name
        mlflow_model.save(str(Path(path) / MLMODEL_FILE_NAME))


def sampling_defaults(adapter_dir: str | Path, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """A value for every PARAM: `sampling`'s where it has one, else what predict would use anyway
    (the one sampling-config rule of `sampling.sampling_config`, with the adapter's highway)."""
    from motionlora.motion.adapter_info import MotionAdapterInfo
    from motionlora.sampling import sampling_config

    fallback = {**dataclasses.asdict(sampling_config(adapter=MotionAdapterInfo.read(adapter_dir))), "fps": DEFAULT_FPS}
    return {key: sampling[key] if sampling.get(key) is not None else fallback[key] for key in PARAMS}


def log_motion_model(adapter_dir: str | Path, base_model: str, sampling: Mapping[str, Any], name: str = "model") -> Any:
    """Log the adapter as a pyfunc model in the active MLflow run; returns MLflow's ModelInfo.

    `sampling` holds the defaults for the PARAMS (the settings the adapter was evaluated with); a
    setting it lacks comes from the adapter (highway, β) or the sampler's defaults.
    """
    from mlflow.models import Model

    from motionlora.models import identify_model, resolve_model_dir

    artifacts = {"adapter": str(adapter_dir)}
    base_dir = resolve_model_dir(base_model)
    source = base_model_source(base_model)
    if _folder_size(base_dir) < INCLUDE_BASE_MODEL_BELOW:
        artifacts["base_model"] = str(base_dir)
    identity = identify_model(base_dir, source)
    defaults = sampling_defaults(adapter_dir, sampling)
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=_PyfuncFlavor({"adapter": Path(adapter_dir).name, "base_model": source}),
        flavor_name="pyfunc.ModelFromCode",
        python_model=str(MODEL_CODE),
        artifacts=artifacts,
        model_config={"base_model": identity.to_dict(), "sampling": defaults},
        code_paths=[str(PACKAGE_DIR)],
        signature=signature(defaults),
        input_example=input_example(),
        pip_requirements=pinned_requirements(),
        validate_serving_input=False,
    )


def base_model_to_load(artifacts: Mapping[str, str], config: Mapping[str, Any]) -> str:
    """Where the pyfunc loads its base model from: the bundled `base_model` artifact; else the
    config's `base_model` — text (a folder or hub id given at load time, or a model logged before
    identities were recorded), or an identity whose source is a hub id or URL."""
    if artifacts.get("base_model"):
        return artifacts["base_model"]
    base = config.get("base_model")
    if isinstance(base, str) and base:
        return base
    source = str((base or {}).get("source", ""))
    if is_remote_reference(source):
        return source
    weights = str((base or {}).get("weights_sha256", "?"))[:12]
    raise ValueError(
        f"the base model {source!r} (UNet weights sha256 {weights}...) was a local folder where this model "
        "was logged, too large to bundle: load the model with model_config={'base_model': '<its folder or hub id>'} "
        "(mlflow models serve: MLFLOW_PYFUNC_INFERENCE_CONFIG='{\"base_model\": \"...\"}')"
    )


class MotionVideoModel(mlflow.pyfunc.PythonModel):
    """Loads the base model and the adapter once; each predicted row is one sampled video."""

    def load_context(self, context: Any) -> None:
        from motionlora.models import load_t2v_model, pick_device
        from motionlora.motion.adapter import load_motion_adapter

        config = context.model_config or {}
        base = base_model_to_load(context.artifacts, config)
        self.model = load_t2v_model(base, device=pick_device())
        self.info = load_motion_adapter(self.model.unet, context.artifacts["adapter"], self.model.identity)
        self.defaults = config.get("sampling", {})

    def predict(self, context, model_input, params=None):  # no hints: MLflow would derive a schema from them
        """One video per row of `model_input` (a DataFrame or records with `prompt`, optional `seed`)."""
        import pandas as pd

        from motionlora.data.video import write_video
        from motionlora.generate import generate_video
        from motionlora.sampling import sampling_config

        settings = {**self.defaults, **(params or {})}
        fps = float(settings.pop("fps", DEFAULT_FPS))
        sampling = sampling_config(adapter=self.info, **settings)
        rows = []
        with tempfile.TemporaryDirectory(prefix="motionlora-predict-") as tmp:
            for i, row in enumerate(pd.DataFrame(model_input).to_dict("records")):
                seed = int(row["seed"]) if pd.notna(row.get("seed")) else 0
                frames = generate_video(self.model, str(row["prompt"]), sampling, seed=seed)
                path = write_video(Path(tmp) / f"{i}.mp4", frames, fps)
                rows.append({"prompt": row["prompt"], "seed": seed, "video_mp4": path.read_bytes()})
        return pd.DataFrame(rows, columns=["prompt", "seed", "video_mp4"])
