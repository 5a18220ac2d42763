"""Evaluation: motion fidelity from point tracks, and CLIP-based appearance and text metrics."""

from motionlora.evaluate.clip import DEFAULT_CLIP, ClipScorer, load_clip
from motionlora.evaluate.metrics import (
    appearance_diversity,
    appearance_leakage,
    check_frames,
    concept_motion_fidelity,
    motion_fidelity,
    temporal_consistency,
    text_alignment,
)

__all__ = [
    "DEFAULT_CLIP",
    "ClipScorer",
    "appearance_diversity",
    "appearance_leakage",
    "check_frames",
    "load_clip",
    "concept_motion_fidelity",
    "motion_fidelity",
    "temporal_consistency",
    "text_alignment",
]
