"""A version whose adapter learned nothing is refused, from real evaluation output on the shapes model.

The champion stands for an adapter that reproduces the concept exactly: its evaluation is real
(base-model clips sampled from models/shapes, every score computed by `evaluate_adapter`, the CLIP
being models/shapes-clip) except that its "adapter" clips are the rendered ground truth of each
prompt — the zigzag in the asked appearance. It passes the gate on its own evidence.

The candidate is a motion LoRA whose weights are all zero (what training with learning rate 0
gives): with the appearance highway on, as the recipe samples it, its clips differ slightly from
the base model's but do not move like the concept. Registered from its real evaluation, the gate
must fail naming `motion_gain`, `champion` must not move, and the version keeps only `challenger`.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from motionlora.cli import main
from motionlora.data.video import write_video
from motionlora.evaluate import run as evaluation
from motionlora.evaluate.clip import load_clip
from motionlora.evaluate.job import read_references, write_outputs
from motionlora.evaluate.run import EvaluationConfig, evaluate_adapter
from motionlora.sampling import SamplingConfig
from motionlora.models import load_t2v_model
from motionlora.motion import apply_motion_lora, save_motion_adapter
from motionlora.registry.gate import GateConfig
from motionlora.registry.promotion import AliasState, promote
from motionlora.registry.registration import register_adapter
from shapesworld.captions import parse_caption
from shapesworld.render import ClipSpec, caption, render_clip

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONCEPT = "zigzag-refusal"
MODEL = f"motion-{CONCEPT}"
REFERENCE = ClipSpec(shape="triangle", color="green", background="stripes", motion="zigzag")
PROMPTS = ("a red circle moving in a zigzag on a black background", "a blue square moving in a zigzag on a white background")
CONFIG = EvaluationConfig(prompts=PROMPTS, seeds=(0, 1), clip_model=str(ROOT / "models" / "shapes-clip"))
SAMPLING = SamplingConfig(steps=5, frames=8, guidance_scale=1.0, highway="all", beta=1.1)
GATE = GateConfig(min_motion_gain=0.0, text_alignment_tolerance=5.0, max_appearance_leakage=5.0, tolerance=0.05)


@pytest.fixture(scope="module")
def world(tmp_path_factory, mlflow_sqlite):
    root = tmp_path_factory.mktemp("refusal")
    clips = root / "clips"
    for seed in range(3):
        write_video(clips / f"clip_{seed}.mp4", render_clip(REFERENCE, seed))
    (clips / "captions.jsonl").write_text("".join(
        json.dumps({"file": f"clip_{seed}.mp4", "caption": caption(REFERENCE)}) + "\n" for seed in range(3)))
    assert main(["data", "ingest", str(clips), "--out", str(root / "ingested"), "--concept", CONCEPT]) == 0
    model = load_t2v_model(ROOT / "models" / "shapes")
    apply_motion_lora(model.unet, "tap-k", rank=4)  # LoRA B starts at zero: an adapter that learned nothing
    adapter = save_motion_adapter(model.unet, root / "adapter", model.identity, "tap-k")
    return {"root": root, "ingested": root / "ingested", "adapter": adapter, "model": model,
            "references": read_references(root / "ingested"), "clip": load_clip(CONFIG.clip_model),
            "uri": mlflow_sqlite(root)}


def evaluate_into(world, name: str) -> Path:
    result = evaluate_adapter(world["model"], world["references"], CONFIG, SAMPLING, world["clip"])
    out = world["root"] / name
    write_outputs(result, world["references"], out, f"evaluation {name}", 8.0)
    return out


def register(world, evaluation_dir: Path, run_id: str):
    return register_adapter(world["adapter"], evaluation_dir, world["ingested"], str(ROOT / "models" / "shapes"), CONCEPT,
                            GATE, run_id, tracking_uri=world["uri"])


@pytest.fixture(scope="module")
def champion(world):
    """v1: the evaluation of an adapter that draws the concept exactly, promoted through the gate."""
    real = evaluation.generate_video

    def rendered_when_adapted(model, prompt, sampling, seed=0):
        if sampling.adapter:
            return render_clip(parse_caption(prompt, frames=sampling.frames), seed)
        return real(model, prompt, sampling, seed=seed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "generate_video", rendered_when_adapted)
        out = evaluate_into(world, "eval-champion")
    registered = register(world, out, "run-champion")
    assert registered.decision.passed, registered.decision.describe()
    client = mlflow.MlflowClient(world["uri"])
    assert promote(client, MODEL, registered.version, GATE, "test").action == "promoted"
    return registered


def test_an_adapter_that_learned_nothing_is_refused_and_champion_stays(world, champion):
    out = evaluate_into(world, "eval-zero")
    metrics = json.loads((out / "metrics.json").read_text())
    gain = metrics["aggregate"]["motion_gain"]
    assert gain["n"] == 4 and gain["ci95_low"] <= 0.0
    assert metrics["aggregate"]["judge_motion_correct"]["mean"] < 1.0  # the judge ran: every prompt is a shapes caption

    client = mlflow.MlflowClient(world["uri"])
    registered = register(world, out, "run-zero")
    decision = registered.decision
    assert not decision.passed
    failing = [r for r in decision.reasons if r.startswith("FAIL")]
    assert any(r.startswith("FAIL motion_gain") for r in failing), decision.describe()
    assert any("paired t-test on 4 shared prompt × seed pairs" in r for r in decision.reasons), decision.describe()

    result = promote(client, MODEL, registered.version, GATE, "test")
    assert result.action == "rejected" and "FAIL motion_gain" in result.describe()
    state = AliasState.read(client, MODEL)
    assert state == AliasState(champion=champion.version, challenger=registered.version)
    aliases = client.get_model_version(MODEL, registered.version).aliases
    assert list(aliases) == ["challenger"]
    assert client.get_model_version(MODEL, registered.version).tags["motionlora.gate"] == "failed"


def test_a_version_carries_its_evidence_lineage_and_servable_requirements(world, champion):
    """What the registry shows of the champion: a description with the verdict and the headline
    numbers, the training clips as the run's dataset, metrics on the logged model, and requirements
    a plain package index can serve."""
    client = mlflow.MlflowClient(world["uri"])
    version = client.get_model_version(MODEL, champion.version)
    assert version.description.startswith(f"Motion adapter for {CONCEPT!r} (preset tap-k), registered by pipeline run run-champion. "
                                          "Gate: passed. motion_gain ")
    run = client.get_run(version.run_id)
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == f"{CONCEPT}-clips"
    tags = {tag.key: tag.value for tag in dataset.tags}
    assert tags["mlflow.data.context"] == "training" and tags["motionlora.clips"] == "3"
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert {m.key for m in logged.metrics} >= {"motion_gain", "judge_motion_correct"}
    requirements = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{champion.version}/requirements.txt",
                                                            tracking_uri=world["uri"])).read_text()
    assert "torch==" in requirements and "+cpu" not in requirements
