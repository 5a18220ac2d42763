"""The adapter as an MLflow pyfunc model (real MLflow store on SQLite): its input example, logged
without a prediction; its base model recorded as an identity, never as a path of this machine;
loaded from the bundled artifact, or from a folder or hub id given at load time."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import mlflow.models.utils
import pytest
import yaml
from helpers import fresh_model, randomize_lora

from motionlora.models import identify_model
from motionlora.motion import MOTION_ADAPTER, apply_motion_lora, save_motion_adapter
from motionlora.registry import model as registry_model
from motionlora.models.identity import base_model_source
from motionlora.registry.model import base_model_to_load, log_motion_model
from motionlora.tracking import ensure_experiment


@pytest.fixture
def store(tmp_path, mlflow_sqlite):
    uri = mlflow_sqlite(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(uri, "models"))  # artifacts beside the database
    yield uri
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def adapter(tiny_model_dir, tmp_path):
    model = fresh_model(tiny_model_dir, ("unet",))
    apply_motion_lora(model.unet, "tap-k", rank=2)
    randomize_lora(model.unet, MOTION_ADAPTER, seed=1)
    return save_motion_adapter(model.unet, tmp_path / "adapter", model.identity, "tap-k")


def _log(adapter, base, monkeypatch):
    """Log the model, recording every serving-input check MLflow makes (each one loads the model and
    samples a video)."""
    checks = []
    monkeypatch.setattr(mlflow.models.utils, "_validate_serving_input", lambda **kwargs: checks.append(kwargs))
    with mlflow.start_run():
        info = log_motion_model(adapter, base, {"steps": 1, "frames": 4})
    return info, checks


@pytest.mark.slow
def test_the_model_shows_an_input_example_and_records_the_base_as_an_identity(store, adapter, tiny_model_dir,
                                                                              tmp_path, monkeypatch):
    info, checks = _log(adapter, str(tiny_model_dir), monkeypatch)
    assert checks == []  # logging the example sampled nothing

    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "downloaded"))
    example = mlflow.models.Model.load(local).load_input_example(local)
    assert example.to_dict("records") == [{"prompt": registry_model.EXAMPLE_PROMPT, "seed": 0}]
    serving = json.loads((tmp_path / "downloaded" / "serving_input_example.json").read_text())
    assert serving["dataframe_split"]["columns"] == ["prompt", "seed"]

    mlmodel = (tmp_path / "downloaded" / "MLmodel").read_text()
    identity = identify_model(tiny_model_dir, tiny_model_dir.name)
    config = yaml.safe_load(mlmodel)["flavors"]["python_function"]["config"]
    assert config["base_model"] == identity.to_dict()
    assert config["base_model"]["source"] == tiny_model_dir.name
    for where in (str(tiny_model_dir), str(adapter), str(registry_model.PACKAGE_DIR)):
        assert where not in mlmodel  # not in the config, nor as where an artifact or the model code came from

    # the bundled base model is what the pyfunc loads, wherever the original folder went
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    [row] = loaded.predict([{"prompt": "a red circle", "seed": 3}], params={"steps": 1}).to_dict("records")
    assert row["seed"] == 3 and row["video_mp4"][4:8] == b"ftyp"


@pytest.mark.slow
def test_a_large_local_base_is_named_and_loaded_from_a_folder_given_at_load_time(store, adapter, tiny_model_dir,
                                                                                 monkeypatch):
    monkeypatch.setattr(registry_model, "INCLUDE_BASE_MODEL_BELOW", 0)  # as a base too large to bundle
    info, _ = _log(adapter, str(tiny_model_dir), monkeypatch)
    with pytest.raises(ValueError, match=rf"the base model '{tiny_model_dir.name}' .* was a local folder .*"
                                         r"model_config=\{'base_model'"):
        mlflow.pyfunc.load_model(info.model_uri)
    loaded = mlflow.pyfunc.load_model(info.model_uri, model_config={"base_model": str(tiny_model_dir)})
    [row] = loaded.predict([{"prompt": "a red circle"}], params={"steps": 1}).to_dict("records")
    assert row["video_mp4"][4:8] == b"ftyp"


@pytest.mark.slow
def test_logging_and_checking_an_adapter_loads_neither_torch_nor_diffusers(store, adapter, tiny_model_dir):
    """What the pipeline's register step does to the adapter (check its weights, log the model) is
    bookkeeping: the step starts in a moment instead of importing torch, diffusers and peft (about
    7 CPU-seconds). A real logging, in a fresh interpreter."""
    code = ("import sys, mlflow\n"
            "from motionlora.motion.adapter_info import check_adapter_weights\n"
            "from motionlora.registry.model import log_motion_model\n"
            "mlflow.set_tracking_uri(sys.argv[1])\n"
            "check_adapter_weights(sys.argv[2])\n"
            "with mlflow.start_run():\n"
            "    log_motion_model(sys.argv[2], sys.argv[3], {})\n"
            "print(sorted({'torch', 'diffusers', 'peft'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, store, str(adapter), str(tiny_model_dir)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("given, recorded", [
    ("cerspense/zeroscope_v2_576w", "cerspense/zeroscope_v2_576w"),
    ("s3://bucket/models/zeroscope", "s3://bucket/models/zeroscope"),
    ("file:///srv/models/zeroscope", "zeroscope"),
])
def test_the_recorded_source_keeps_hub_ids_and_urls_and_names_local_folders(given, recorded):
    assert base_model_source(given) == recorded


def test_a_local_folder_is_recorded_by_its_name(tiny_model_dir):
    assert base_model_source(str(tiny_model_dir)) == tiny_model_dir.name


@pytest.mark.parametrize("artifacts, config, expected", [
    ({"base_model": "/models/bundled"}, {"base_model": {"source": "owner/name"}}, "/models/bundled"),
    ({}, {"base_model": {"source": "owner/name", "weights_sha256": "ab"}}, "owner/name"),
    ({}, {"base_model": {"source": "s3://bucket/base"}}, "s3://bucket/base"),
    ({}, {"base_model": "/given/at/load/time"}, "/given/at/load/time"),  # also a model logged before identities
])
def test_where_the_pyfunc_loads_its_base_from(artifacts, config, expected):
    assert base_model_to_load(artifacts, config) == expected
