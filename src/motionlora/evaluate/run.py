"""Evaluate a motion adapter: generate prompt × seed with the adapter and with the base model
(same seeds), score every video, and aggregate with 95% confidence intervals.

Evaluation prompts should ask for appearances unlike the reference clips: the point of the method
is the motion without the references' look, and only such prompts can show leakage.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from motionlora.data.frames import resize_frames
from motionlora.evaluate.clip import DEFAULT_CLIP, ClipScorer
from motionlora.evaluate.metrics import (
    appearance_diversity,
    appearance_leakage,
    motion_fidelity,
    temporal_consistency,
    text_alignment,
)
from motionlora.generate import SamplingConfig, generate_video
from motionlora.models.loading import T2VModel

# Per-video metrics, and whether higher is better (the report and the promotion gate read this).
HIGHER_IS_BETTER = {
    "motion_fidelity": True,
    "base_motion_fidelity": True,
    "text_alignment": True,
    "base_text_alignment": True,
    "temporal_consistency": True,
    "appearance_leakage": False,
}


@dataclass(frozen=True)
class EvaluationConfig:
    """The `evaluate` section of a recipe."""

    prompts: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    clip_model: str = DEFAULT_CLIP


@dataclass
class EvaluationResult:
    """Per-video scores, their aggregates, the videos themselves, and the settings used."""

    per_video: list[dict[str, Any]]
    aggregate: dict[str, dict[str, float]]
    settings: dict[str, Any]
    videos: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"settings": self.settings, "aggregate": self.aggregate, "per_video": self.per_video}


def mean_ci95(values: Sequence[float]) -> dict[str, float]:
    """Mean and a Student-t 95% confidence interval (the interval is the mean itself for n = 1)."""
    from scipy.stats import t as student_t

    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    half = 0.0
    if len(data) > 1:
        half = float(student_t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "n": int(len(data))}


def fit_references(references: Sequence[np.ndarray], frames: int, width: int, height: int) -> list[np.ndarray]:
    """Reference clips resampled in time to `frames` frames and resized to the generated size.

    Motion fidelity compares displacement tracklets frame by frame, so both clips need the same
    number of frames; uniform resampling keeps the whole motion.
    """
    fitted = []
    for clip in references:
        index = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        fitted.append(resize_frames(clip[index], width, height, crop="resize"))
    return fitted


def video_key(kind: str, prompt_index: int, seed: int) -> str:
    return f"{kind}-p{prompt_index:02d}-s{seed}"


def evaluate_adapter(
    model: T2VModel,
    references: Sequence[np.ndarray],
    config: EvaluationConfig,
    sampling: SamplingConfig,
    clip: ClipScorer,
    on_video: Callable[[], None] | None = None,
) -> EvaluationResult:
    """Score `model` (its UNet carrying the motion adapter) against the same model without it."""
    if not config.prompts:
        raise ValueError("evaluation needs at least one prompt (evaluate.prompts or --prompts)")
    if not config.seeds:
        raise ValueError("evaluation needs at least one seed")
    if not references:
        raise ValueError("evaluation needs at least one reference clip")
    base_sampling = dataclasses.replace(sampling, adapter=False)
    per_video, videos, fitted = [], {}, None
    for p, prompt in enumerate(config.prompts):
        for seed in config.seeds:
            tuned = generate_video(model, prompt, sampling, seed=seed)
            base = generate_video(model, prompt, base_sampling, seed=seed)
            if fitted is None:
                fitted = fit_references(references, len(tuned), tuned.shape[2], tuned.shape[1])
                all_reference_frames = np.concatenate(fitted)
            videos[video_key("adapter", p, seed)] = tuned
            videos[video_key("base", p, seed)] = base
            per_video.append(
                {
                    "prompt": prompt,
                    "prompt_index": p,
                    "seed": seed,
                    "motion_fidelity": float(np.mean([motion_fidelity(r, tuned) for r in fitted])),
                    "base_motion_fidelity": float(np.mean([motion_fidelity(r, base) for r in fitted])),
                    "text_alignment": text_alignment(tuned, prompt, clip),
                    "base_text_alignment": text_alignment(base, prompt, clip),
                    "temporal_consistency": temporal_consistency(tuned, clip),
                    "appearance_leakage": appearance_leakage(tuned, all_reference_frames, base, clip),
                }
            )
            if on_video is not None:
                on_video()
    aggregate = {name: mean_ci95([row[name] for row in per_video]) for name in HIGHER_IS_BETTER}
    if len(config.prompts) > 1:
        per_seed = [
            appearance_diversity([videos[video_key("adapter", p, s)] for p in range(len(config.prompts))], clip)
            for s in config.seeds
        ]
        aggregate["appearance_diversity"] = mean_ci95(per_seed)
    settings = {
        "prompts": list(config.prompts),
        "seeds": list(config.seeds),
        "clip_model": config.clip_model,
        "references": len(references),
        "sampling": dataclasses.asdict(sampling),
        "base_model": model.identity.to_dict(),
    }
    return EvaluationResult(per_video=per_video, aggregate=aggregate, settings=settings, videos=videos)
