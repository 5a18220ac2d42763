"""The MLflow layer: where a local store's artifacts go, experiments created once, error codes read."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from motionlora.tracking import default_artifact_location, ensure_experiment, start_run
from motionlora.tracking.errors import already_exists, does_not_exist, unless_missing
from tests.integration.servers import free_port


def test_a_local_store_keeps_its_artifacts_beside_the_database(tmp_path, monkeypatch, mlflow_sqlite):
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    store.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # MLflow's own default would be ./mlruns here
    uri = mlflow_sqlite(store)
    (tmp_path / "note.txt").write_text("hello")
    with start_run(uri, experiment="exp", log_system_metrics=False) as run:
        run.log_artifact(tmp_path / "note.txt")
    artifact_root = Path(mlflow.MlflowClient(uri).get_experiment_by_name("exp").artifact_location.removeprefix("file://"))
    assert artifact_root == store / "mlartifacts" / "exp"
    assert [p.name for p in artifact_root.rglob("note.txt")] == ["note.txt"]
    assert list(elsewhere.iterdir()) == []


def test_a_tracking_server_chooses_its_own_artifact_location():
    assert default_artifact_location("http://mlflow:5000", "exp") is None


def test_an_experiment_is_created_once(tmp_path, mlflow_sqlite):
    uri = mlflow_sqlite(tmp_path)
    first = ensure_experiment(uri, "exp")
    assert ensure_experiment(uri, "exp") == first
    assert ensure_experiment(uri, "other", (tmp_path / "custom").as_uri()) != first
    assert mlflow.MlflowClient(uri).get_experiment_by_name("other").artifact_location == (tmp_path / "custom").as_uri()


def test_error_codes_say_what_happened(tmp_path, mlflow_sqlite):
    client = mlflow.MlflowClient(mlflow_sqlite(tmp_path))
    client.create_registered_model("m")
    with pytest.raises(MlflowException) as twice:
        client.create_registered_model("m")
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("nope")
    assert already_exists(twice.value) and not does_not_exist(twice.value)
    assert does_not_exist(missing.value) and not already_exists(missing.value)
    assert not already_exists(ValueError("RESOURCE_ALREADY_EXISTS"))
    assert unless_missing(client.get_registered_model, "nope") is None
    assert unless_missing(client.get_registered_model, "m").name == "m"
    with pytest.raises(MlflowException):  # only "not there" is an answer
        unless_missing(client.create_registered_model, "m")


def test_params_beyond_one_batch_are_all_logged(tmp_path, mlflow_sqlite):
    """MLflow takes at most 100 params per batch; a pipeline's parameters may be more."""
    from motionlora.tracking.records import log_params

    uri = mlflow_sqlite(tmp_path)
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(ensure_experiment(uri, "exp")).info.run_id
    log_params(client, run_id, {"group": {f"p{i}": i for i in range(250)}})
    params = client.get_run(run_id).data.params
    assert len(params) == 250 and params["group.p249"] == "249"


def test_an_unreachable_server_is_one_line_naming_it(capsys, monkeypatch):
    """Nothing listens on the port: one line that says where and why, not a traceback; and the
    retry bounds that keep this under 30 s are the defaults (MLflow's own wait over 4 minutes)."""
    from motionlora import cli

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    port = free_port()
    code = cli.main(["registry", "--tracking-uri", f"http://127.0.0.1:{port}", "list"])
    [line] = capsys.readouterr().err.splitlines()
    assert code == 2
    assert line == (f"motionlora registry list: error: cannot reach the MLflow tracking server at 127.0.0.1:{port} "
                    "([Errno 111] Connection refused); is it running? Set --tracking-uri or MLFLOW_TRACKING_URI")
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get(), MLFLOW_HTTP_REQUEST_TIMEOUT.get()) == (2, 1, 8)


def test_other_mlflow_errors_keep_their_own_message():
    from motionlora.tracking.errors import describe

    assert describe(MlflowException("Registered Model with name=motion-x not found")) == "Registered Model with name=motion-x not found"


def test_params_show_whole_numbers_as_integers():
    """KFP hands dict parameters over as protobuf floats: 32 arrives as 32.0."""
    from motionlora.tracking import flatten_params

    assert flatten_params({"height": 32.0, "lr": 0.001, "beta": 1.1, "seeds": [0.0, 1.0], "nested": {"steps": 400.0}}) == {
        "height": "32", "lr": "0.001", "beta": "1.1", "seeds": "0 | 1", "nested.steps": "400"}
