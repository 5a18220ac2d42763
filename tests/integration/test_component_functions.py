"""Every pipeline component's Python function (`component.python_func`), without KFP, chained as the
pipeline chains them: tiny clips → ingest → preprocess → train → evaluate → register → promote, with
start-run and finish-run around them. (The same components under kfp.local: test_pipeline_local.py.)"""

from __future__ import annotations

import json
from types import SimpleNamespace

import mlflow
import pytest
import yaml
from kfp.dsl import HTML, Artifact, Dataset, Markdown, Metrics, Model, PipelineTaskFinalStatus

from components.evaluate import evaluate
from components.finish_run import finish_run
from components.ingest import ingest
from components.preprocess import preprocess
from components.promote import promote
from components.register import register
from components.start_run import start_run
from components.train import train
from motionlora.data.ingest import NotEnoughClipsError
from tests.unit.clipfactory import moving_square, write_clip

pytestmark = pytest.mark.slow

RUN = "kfp-run-1"
# configs/tiny.yaml's gate: the tiny model is random, so no motion can be learned and the gate refuses.
GATE = {"min_motion_gain": 0.0, "text_alignment_tolerance": 5.0, "max_appearance_leakage": 5.0,
        "min_judge_motion_correct": 0.5, "max_judge_leak": 0.25, "tolerance": 0.05}
RECIPE = {
    "train": {"rank": 2, "batch_size": 1, "checkpoint_every": 1000, "dual_path": False},
    "sampling": {"guidance_scale": 5.0, "frames": 8},
}


def artifact(kind, path):
    return kind(uri=str(path))


@pytest.fixture(scope="module")
def env(tmp_path_factory, mlflow_sqlite, tiny_model_dir):
    from motionlora.testing.tiny_clip import build_tiny_clip

    root = tmp_path_factory.mktemp("components")
    clips = root / "clips"
    for i in range(2):
        write_clip(clips / f"clip_{i}.mp4", moving_square(seed=i))
    (clips / "captions.jsonl").write_text(
        "".join(json.dumps({"file": f"clip_{i}.mp4", "caption": "a white square slides right"}) + "\n" for i in range(2)))
    (root / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    return SimpleNamespace(root=root, clips=clips, uri=mlflow_sqlite(root), recipe=str(root / "recipe.yaml"),
                           clip=str(build_tiny_clip(root / "clip")), tiny_model=tiny_model_dir)


def tracked(env, parent):
    return {"tracking_uri": env.uri, "parent_run_id": parent}


def reusable(env, started):
    """What the steps KFP may reuse take instead of the parent run's id."""
    return {"tracking_uri": env.uri, "experiment": "components", "content_key": started.content_key}


def start(env, pipeline_run_id, source, settings=None):
    work = {"source": str(source), "dvc_repo": "", "dvc_rev": "", "base_model": str(env.tiny_model),
            "recipe": env.recipe, "clip_model": env.clip, "steps": 2, **(settings or {})}
    return start_run.python_func(tracking_uri=env.uri, experiment="components", pipeline_run_id=pipeline_run_id,
                                 concept="squares", work=work, eval_prompts=["a red circle on black"], gate=GATE)


@pytest.fixture(scope="module")
def started(env):
    return start(env, RUN, env.clips)


@pytest.fixture(scope="module")
def parent(started):
    return started.parent_run_id


@pytest.fixture(scope="module")
def ingested(env, started):
    out = artifact(Dataset, env.root / "ingested")
    ingest.python_func(source=str(env.clips), dvc_repo="", dvc_rev="", concept="squares", min_clips=2,
                       ingested=out, **reusable(env, started))
    return out


@pytest.fixture(scope="module")
def latents(env, started, ingested):
    out = artifact(Dataset, env.root / "latents")
    preprocess.python_func(ingested=ingested, base_model=str(env.tiny_model), frames=8, width=32, height=32,
                           latents=out, **reusable(env, started))
    return out


@pytest.fixture(scope="module")
def trained(env, started, latents):
    out = artifact(Model, env.root / "trained")
    train.python_func(latents=latents, base_model=str(env.tiny_model), recipe=env.recipe, preset="tap-k", rank=2,
                      learning_rate=1e-3, steps=2, highway_scope="all", highway_beta=1.1, nodes=1, gpus_per_node=0,
                      trained=out, **reusable(env, started))
    return out


@pytest.fixture(scope="module")
def evaluated(env, started, trained, ingested):
    outputs = {"evaluation": artifact(Artifact, env.root / "evaluation"), "metrics": artifact(Metrics, env.root / "metrics"),
               "report": artifact(HTML, env.root / "report.html")}
    evaluate.python_func(trained=trained, ingested=ingested, base_model=str(env.tiny_model), recipe=env.recipe,
                         prompts=["a red circle on black"], seeds="0", clip_model=env.clip,
                         sampling_steps=2, **outputs, **reusable(env, started))
    return SimpleNamespace(**outputs)


@pytest.fixture(scope="module")
def registered(env, parent, trained, evaluated, ingested):
    decision = artifact(Markdown, env.root / "registration.md")
    passed = register.python_func(
        trained=trained, evaluation=evaluated.evaluation, ingested=ingested, base_model=str(env.tiny_model),
        concept="squares", pipeline_run_id=RUN, decision=decision, **GATE, **tracked(env, parent))
    return SimpleNamespace(passed=passed, decision=decision)


def test_start_run_opens_one_parent_run_per_pipeline_run(env, started):
    again = start(env, RUN, env.clips)
    assert again == started  # a retried step finds the run instead of opening a second one
    run = mlflow.MlflowClient(env.uri).get_run(started.parent_run_id)
    assert run.info.status == "RUNNING" and run.data.tags["motionlora.content_key"] == started.content_key
    assert run.data.params["steps"] == "2" and run.data.params["gate.min_judge_motion_correct"] == "0.5"
    assert run.data.params["source"] == str(env.clips)


def test_the_content_key_follows_the_content_and_the_settings(env, started, tmp_path):
    import shutil

    copy = shutil.copytree(env.clips, tmp_path / "copy")  # the source's text is ingest's input: only content counts here
    key = start(env, "kfp-run-copy", copy).content_key
    (copy / "clip_1.mp4").write_bytes((copy / "clip_1.mp4").read_bytes() + b"\0")
    assert start(env, "kfp-run-edited", copy).content_key != key
    assert start(env, "kfp-run-more-steps", env.clips, {"steps": 3}).content_key != started.content_key


def test_the_reusable_steps_nest_their_runs_under_the_parent_found_by_the_content_key(env, parent, trained, evaluated):
    client = mlflow.MlflowClient(env.uri)
    children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert {"train", "evaluate"} <= {run.info.run_name for run in children}


def test_ingest_writes_the_good_clips_and_a_manifest(ingested):
    rows = open(f"{ingested.path}/manifest.jsonl").read().splitlines()
    assert len(rows) == 2 and ingested.metadata["accepted"] == 2


@pytest.fixture(scope="module")
def failed_parent(env):
    """The parent run of a pipeline run whose ingest step failed (its one clip is not a video)."""
    broken = env.root / "broken-clips"
    broken.mkdir()
    (broken / "clip_0.mp4").write_bytes(b"not a video")
    started = start(env, "kfp-run-bad", broken)
    with pytest.raises(NotEnoughClipsError):
        ingest.python_func(source=str(broken), dvc_repo="", dvc_rev="", concept="squares", min_clips=1,
                           ingested=artifact(Dataset, env.root / "bad"), **reusable(env, started))
    return started.parent_run_id


def test_a_failing_step_records_itself_on_the_parent_run(env, failed_parent):
    tags = mlflow.MlflowClient(env.uri).get_run(failed_parent).data.tags
    assert tags["motionlora.failed_step"] == "ingest"
    assert tags["motionlora.failure"].startswith("NotEnoughClipsError: only 0 good clip(s)")


def test_a_missing_source_fails_start_run_naming_it(env):
    with pytest.raises(FileNotFoundError, match="no-such-folder does not exist"):
        start(env, "kfp-run-missing", env.root / "no-such-folder")
    client = mlflow.MlflowClient(env.uri)
    [run] = client.search_runs([client.get_experiment_by_name("components").experiment_id],
                               "tags.`motionlora.pipeline_run_id` = 'kfp-run-missing'")
    assert run.data.tags["motionlora.failed_step"] == "start-run"


def test_preprocess_encodes_every_clip(latents):
    index = json.loads(open(f"{latents.path}/index.json").read())
    assert index["num_clips"] == 2 and latents.metadata["clips"] == 2


def test_train_writes_the_adapter_in_its_model_artifact(trained):
    from motionlora.motion.adapter_info import MotionAdapterInfo

    info = MotionAdapterInfo.read(f"{trained.path}/adapter")
    assert info.preset == "tap-k" and info.rank == 2 and trained.metadata["steps"] == 2


def test_evaluate_writes_metrics_report_and_videos(evaluated):
    assert {"motion_gain", "text_alignment_delta", "concept_motion_fidelity", "motion_fidelity", "text_alignment",
            "appearance_leakage"} <= set(evaluated.metrics.metadata)
    assert open(evaluated.report.path).read().startswith("<!DOCTYPE html>")
    assert json.loads(open(f"{evaluated.evaluation.path}/metrics.json").read())["aggregate"]["motion_fidelity"]["n"] == 1


def test_register_makes_a_challenger_with_provenance(env, registered):
    # one prompt × seed pair on a random model: no motion gain can be shown, so the gate refuses
    assert not registered.passed and registered.decision.metadata == {"model": "motion-squares", "version": "1"}
    client = mlflow.MlflowClient(env.uri)
    assert str(client.get_model_version_by_alias("motion-squares", "challenger").version) == "1"
    tags = client.get_model_version("motion-squares", "1").tags
    assert tags["motionlora.pipeline_run_id"] == RUN and tags["motionlora.preset"] == "tap-k"
    assert tags["motionlora.highway"] == "all beta=1.1" and "motionlora.metric.motion_gain" in tags
    assert json.loads(tags["motionlora.ci95.motion_gain"])[2] == 1
    assert list(json.loads(tags["motionlora.pairs"])) == ["0|a red circle on black"]
    assert tags["motionlora.gate"] == "failed" and "FAIL motion_gain" in tags["motionlora.gate_reasons"]
    report = open(registered.decision.path).read()
    assert "registered as challenger" in report and "FAIL motion_gain" in report


def test_promote_refuses_what_the_gate_refuses(env, parent, registered):
    decision = artifact(Markdown, env.root / "promotion.md")
    action = promote.python_func(concept="squares", pipeline_run_id=RUN, decision=decision,
                                 **GATE, **tracked(env, parent))
    assert action == "rejected" and "FAIL motion_gain" in open(decision.path).read()
    client = mlflow.MlflowClient(env.uri)
    assert "champion" not in client.get_registered_model("motion-squares").aliases
    assert str(client.get_model_version_by_alias("motion-squares", "challenger").version) == "1"
    assert client.get_run(parent).data.tags["motionlora.promotion"] == "rejected"


def test_one_pair_never_passes_whatever_the_floor(env, parent, registered):
    loose = {**GATE, "min_motion_gain": -2.0}  # below any possible gain, but one pair has no interval
    decision = artifact(Markdown, env.root / "promotion-loose.md")
    action = promote.python_func(concept="squares", pipeline_run_id=RUN, decision=decision,
                                 **loose, **tracked(env, parent))
    assert action == "rejected" and "no confidence interval" in open(decision.path).read()


def status(state):
    return PipelineTaskFinalStatus(state=state, pipeline_job_resource_name="local", pipeline_task_name="pipeline",
                                   error_code=None if state == "SUCCEEDED" else 1,
                                   error_message=None if state == "SUCCEEDED" else "Task pipeline failed.")


def test_finish_run_closes_the_parent_run(env, parent, registered):
    message = finish_run.python_func(tracking_uri=env.uri, experiment="components", pipeline_run_id=RUN,
                                     status=status("SUCCEEDED"))
    assert "succeeded" in message
    assert mlflow.MlflowClient(env.uri).get_run(parent).info.status == "FINISHED"


def test_finish_run_after_a_failure_marks_the_run_failed_and_names_the_step(env, failed_parent):
    message = finish_run.python_func(tracking_uri=env.uri, experiment="components", pipeline_run_id="kfp-run-bad",
                                     status=status("FAILED"))
    assert "failed: step ingest failed: NotEnoughClipsError" in message
    assert mlflow.MlflowClient(env.uri).get_run(failed_parent).info.status == "FAILED"


def test_a_registration_that_fails_half_way_leaves_no_version(env, parent, trained, evaluated, ingested, monkeypatch):
    import motionlora.registry.registration as registration

    def unreachable(*args, **kwargs):
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr(registration, "set_challenger", unreachable)
    with pytest.raises(ConnectionError):
        register.python_func(trained=trained, evaluation=evaluated.evaluation, ingested=ingested,
                             base_model=str(env.tiny_model), concept="squares-broken", pipeline_run_id=RUN,
                             decision=artifact(Markdown, env.root / "broken.md"), **GATE, **tracked(env, parent))
    assert mlflow.MlflowClient(env.uri).search_model_versions("name='motion-squares-broken'") == []
