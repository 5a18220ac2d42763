"""Component `promote`: move `champion` to the new version if it passes the gate under the lock."""

from kfp.dsl import Markdown, Output

from components import component


@component
def promote(concept: str, min_motion_gain: float, text_alignment_tolerance: float, max_appearance_leakage: float,
            min_judge_motion_correct: float, max_judge_leak: float, tolerance: float, pipeline_run_id: str, tracking_uri: str, parent_run_id: str, decision: Output[Markdown]) -> str:
    """Promote the version of `motion-<concept>` this pipeline run registered; returns what happened
    (promoted, rejected, unchanged).

    The gate runs again here, inside the promotion lock, because another run may have changed the
    champion since `register` looked: a rejection at this point is a normal outcome, not a failure.
    """
    from pathlib import Path

    from motionlora.registry.gate import GateConfig
    from motionlora.registry.pipeline_run import promote_for_pipeline
    from motionlora.tracking.pipeline_run import pipeline_step

    gate = GateConfig(min_motion_gain=min_motion_gain, text_alignment_tolerance=text_alignment_tolerance,
                      max_appearance_leakage=max_appearance_leakage, min_judge_motion_correct=min_judge_motion_correct,
                      max_judge_leak=max_judge_leak, tolerance=tolerance)
    with pipeline_step(tracking_uri, parent_run_id, "promote"):
        result = promote_for_pipeline(tracking_uri, concept, gate, pipeline_run_id, parent_run_id)
    Path(decision.path).write_text(result.describe())
    return result.action
