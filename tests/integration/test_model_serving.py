"""`mlflow models serve -m models:/motion-<concept>@champion` answers a REST request with a video.

The adapter (a tap-k LoRA on the shapes model) is logged as the pyfunc model, registered and made
champion in a SQLite store; MLflow's own scoring server then loads it by alias in this environment
(`--env-manager local`) on 127.0.0.1, and the test sends what a client would: a prompt and a seed
as `dataframe_records`, sampling settings as `params`.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request
from pathlib import Path

import imageio.v3 as iio
import mlflow
import pytest

from motionlora.models import load_t2v_model
from motionlora.motion import apply_motion_lora, save_motion_adapter
from motionlora.registry.model import log_motion_model
from motionlora.tracking import ensure_experiment
from tests.integration.servers import serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = "motion-serving"
SAMPLING = {"steps": 20, "frames": 8, "guidance_scale": 1.0, "highway": "off", "beta": 1.0, "fps": 8.0}


@pytest.fixture(scope="module")
def champion_uri(tmp_path_factory, mlflow_sqlite) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("serving")
    model = load_t2v_model(ROOT / "models" / "shapes")
    apply_motion_lora(model.unet, "tap-k", rank=4)
    adapter = save_motion_adapter(model.unet, root / "adapter", model.identity, "tap-k")
    tracking = mlflow_sqlite(root)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    try:
        # ensure_experiment puts the artifacts beside the database (SQLite's default is ./mlruns)
        with mlflow.start_run(experiment_id=ensure_experiment(tracking, "serving")):
            logged = log_motion_model(adapter, str(ROOT / "models" / "shapes"), SAMPLING)
        version = mlflow.register_model(logged.model_uri, MODEL)
        mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", version.version)
    finally:
        mlflow.set_tracking_uri(previous)
    return tracking, f"models:/{MODEL}@champion"


@pytest.fixture(scope="module")
def server(champion_uri, tmp_path_factory) -> str:
    tracking, model_uri = champion_uri
    root = tmp_path_factory.mktemp("server")
    # the scoring server runs `uvicorn` by name: this environment's scripts come first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]

    with serving(command, root, "/ping", {"MLFLOW_TRACKING_URI": tracking, "HF_HUB_OFFLINE": "1", "PATH": path}) as url:
        yield url


def _invoke(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_the_champion_answers_a_rest_request_with_a_video(server):
    body = {"dataframe_records": [{"prompt": "a red circle moving left on a black background", "seed": 3}],
            "params": {"steps": 4}}
    [row] = _invoke(server, body)["predictions"]
    assert row["prompt"] == body["dataframe_records"][0]["prompt"] and row["seed"] == 3
    frames = iio.imread(base64.b64decode(row["video_mp4"]), extension=".mp4")
    assert frames.shape == (SAMPLING["frames"], 32, 32, 3)  # the logged defaults: 8 frames of the 32×32 shapes model
    again = _invoke(server, body)["predictions"][0]["video_mp4"]
    assert again == row["video_mp4"]  # the same seed gives the same video
