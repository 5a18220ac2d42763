"""Component `register`: log the adapter as an MLflow model, register it as challenger, gate it."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Model, Output

from components import component


@component
def register(trained: Input[Model], evaluation: Input[Artifact], ingested: Input[Dataset], base_model: str,
             concept: str, min_motion_gain: float, text_alignment_tolerance: float, max_appearance_leakage: float,
             min_judge_motion_correct: float, max_judge_leak: float, tolerance: float, pipeline_run_id: str, tracking_uri: str, parent_run_id: str,
             decision: Output[Markdown]) -> bool:
    """A new version of `motion-<concept>` with alias `challenger`; returns whether it passes the gate
    against the current champion (the pipeline then runs `promote`, which checks again under the lock).

    One plain output, so that kfp.local can evaluate the pipeline's condition on it; `promote` finds
    the version by this pipeline run's id, which the version carries as a tag.
    """
    from pathlib import Path

    from motionlora.registry.gate import GateConfig
    from motionlora.registry.registration import register_adapter
    from motionlora.tracking.pipeline_run import pipeline_step
    from motionlora.train.outputs import ADAPTER_DIR

    gate = GateConfig(min_motion_gain=min_motion_gain, text_alignment_tolerance=text_alignment_tolerance,
                      max_appearance_leakage=max_appearance_leakage, min_judge_motion_correct=min_judge_motion_correct,
                      max_judge_leak=max_judge_leak, tolerance=tolerance)
    with pipeline_step(tracking_uri, parent_run_id, "register"):
        result = register_adapter(Path(trained.path) / ADAPTER_DIR, evaluation.path, ingested.path, base_model, concept,
                                  gate, pipeline_run_id, tracking_uri, parent_run_id)
    Path(decision.path).write_text(result.describe())
    decision.metadata.update({"model": result.model, "version": result.version})
    return result.decision.passed
