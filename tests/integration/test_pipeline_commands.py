"""`python -m pipelines` arguments, submit and schedule (against a stand-in for kfp.Client)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines import remote
from pipelines.__main__ import main
from pipelines.arguments import build_arguments, pipeline_parameters

ROOT = Path(__file__).resolve().parents[2]


class FakeKfpClient:
    """Records what the commands ask of kfp.Client."""

    def __init__(self, **kwargs) -> None:
        self.init, self.calls = kwargs, []

    def create_run_from_pipeline_package(self, package, **kwargs):
        self.calls.append(("run", package, kwargs))
        return SimpleNamespace(run_id="run-1")

    def create_experiment(self, name, namespace=None):
        return SimpleNamespace(experiment_id=f"exp-{name}")

    def create_recurring_run(self, **kwargs):
        self.calls.append(("recurring", kwargs))
        return SimpleNamespace(recurring_run_id="job-1")


@pytest.fixture
def kfp_client(monkeypatch):
    import kfp

    made = []
    monkeypatch.setattr(kfp, "Client", lambda **kwargs: made.append(FakeKfpClient(**kwargs)) or made[-1])
    monkeypatch.setenv(remote.TOKEN_ENV, "s3cr3t")
    return made


def test_arguments_come_from_the_recipes_gate_and_set():
    arguments = build_arguments(str(ROOT / "configs" / "tiny.yaml"), ["steps=60", 'eval_prompts=["a", "b"]'])
    assert arguments["steps"] == 60 and arguments["eval_prompts"] == ["a", "b"]
    assert arguments["min_motion_gain"] == 0.0 and arguments["gate_tolerance"] == 0.05
    assert set(arguments) <= set(pipeline_parameters())
    with pytest.raises(ValueError, match="NAME one of"):
        build_arguments(None, ["stpes=60"])


@pytest.mark.parametrize("item, message", [
    ("steps=1.5", "--set steps=1.5: steps must be a whole number"),
    ("steps=[1", "--set 'steps=[1': the value is not valid YAML (expected ',' or ']', but got '<stream end>')"),
    ("learning_rate=fast", "--set learning_rate='fast': learning_rate must be a number"),
    ("eval_prompts=a", "--set eval_prompts='a': eval_prompts must be a list"),
])
def test_a_set_value_of_the_wrong_type_is_one_line_naming_the_parameter(item, message, capsys):
    assert main(["run-local", "--set", item]) == 2
    assert capsys.readouterr().err == f"python -m pipelines run-local: error: {message}\n"


def test_a_missing_or_empty_local_source_is_refused_before_any_step(tmp_path, capsys):
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    assert main(["run-local", "--set", f"source={missing}"]) == 2
    assert capsys.readouterr().err == (f"python -m pipelines run-local: error: source {str(missing)!r} does not exist: "
                                       "give a folder of clips (or one clip file)\n")
    assert main(["run-local", "--set", f"source={empty}"]) == 2
    assert "holds no files" in capsys.readouterr().err


def test_set_values_take_the_parameters_types():
    # YAML reads 0 and 1e3 as numbers; text parameters keep them as typed
    assert build_arguments(None, ["learning_rate=1e-3", "eval_seeds=0", "steps=3", "dvc_repo=", "source=clips/1e3"]) == {
        "learning_rate": 0.001, "eval_seeds": "0", "steps": 3, "dvc_repo": "", "source": "clips/1e3"}
    assert build_arguments(None, ["dvc_rev=1e3"]) == {"dvc_rev": "1e3"}  # not "1000.0"


def test_submit_sends_the_compiled_package_with_the_token_from_the_environment(kfp_client, capsys):
    code = main(["submit", "--host", "https://kfp.example", "--namespace", "team", "--experiment", "motion",
                 "--set", "concept=circle"])
    assert code == 0 and "submitted run run-1" in capsys.readouterr().out
    [client] = kfp_client
    assert client.init == {"host": "https://kfp.example", "namespace": "team", "existing_token": "s3cr3t"}
    [(kind, package, kwargs)] = client.calls
    assert package.endswith("pipelines/compiled/motion_customization.yaml")
    assert kwargs["arguments"] == {"concept": "circle"} and kwargs["experiment_name"] == "motion"


def test_schedule_wants_kfps_six_field_cron(kfp_client, capsys):
    assert main(["schedule", "--host", "https://kfp.example", "--cron", "0 2 * * *"]) == 2
    assert "6 fields" in capsys.readouterr().err and kfp_client == []  # refused before connecting
    assert main(["schedule", "--host", "https://kfp.example", "--cron", "0 0 2 * * *"]) == 0
    [(kind, kwargs)] = kfp_client[0].calls
    assert kwargs["cron_expression"] == "0 0 2 * * *" and kwargs["experiment_id"] == "exp-motionlora"
    assert kwargs["max_concurrency"] == 1


def test_run_local_is_quiet_unless_verbose():
    from pipelines.__main__ import build_parser

    assert build_parser().parse_args(["run-local"]).verbose is False
    assert build_parser().parse_args(["run-local", "--verbose"]).verbose is True


def test_the_repositorys_models_and_recipe_reach_the_steps_by_their_repository_paths(tmp_path):
    from pipelines.local import local_arguments

    args = local_arguments({**pipeline_parameters(), "clip_model": str(ROOT / "models" / "shapes-clip"),
                            "source": str(tmp_path), "dvc_repo": ""})
    # the steps run in the repository folder; nothing records a path of this machine as the base model
    assert (args["base_model"], args["clip_model"], args["recipe"]) == (
        "models/shapes", "models/shapes-clip", "configs/shapes.yaml")
    assert args["source"] == str(tmp_path) and args["tracking_uri"] == f"sqlite:///{ROOT / 'mlflow.db'}"
    assert local_arguments({**pipeline_parameters(), "base_model": "owner/name"})["base_model"] == "owner/name"
    assert local_arguments(pipeline_parameters())["dvc_repo"] == "."
