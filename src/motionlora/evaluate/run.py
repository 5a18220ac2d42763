"""Evaluate a motion adapter: generate prompt × seed with the adapter and with the base model
(same seeds), score every video, and aggregate with 95% confidence intervals — including the
paired differences adapter − base over the same pairs (`motion_gain`, `text_alignment_delta`;
`appearance_leakage` is one by construction), which the promotion gate reads. On the shapes world
(every prompt a shapes-world caption) an installed judge (`evaluate.judges`) also reads every clip.

Evaluation prompts should ask for appearances unlike the reference clips: the point of the method
is the motion without the references' look, and only such prompts can show leakage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Sequence

import numpy as np
from pydantic import Field

from motionlora import stats
from motionlora.config import one_of, settings_class
from motionlora.data.frames import resize_frames
from motionlora.evaluate.clip import DEFAULT_CLIP, ClipScorer
from motionlora.evaluate.judges import JUDGE_METRICS, JUDGE_MODES, find_judge
from motionlora.evaluate.metrics import (
    appearance_diversity,
    appearance_leakage,
    concept_motion_fidelity,
    motion_fidelity,
    temporal_consistency,
    text_alignment,
)
from motionlora.generate import generate_video
from motionlora.sampling import SamplingConfig
from motionlora.models.loading import T2VModel

# Per-video metrics, and whether higher is better (the report and the promotion gate read this).
HIGHER_IS_BETTER = {
    "concept_motion_fidelity": True,
    "base_concept_motion_fidelity": True,
    "motion_fidelity": True,
    "base_motion_fidelity": True,
    "text_alignment": True,
    "base_text_alignment": True,
    "temporal_consistency": True,
    "appearance_leakage": False,
}
# Paired differences, adapter − base on the same prompt × seed pair (appearance_leakage is one too).
PAIRED = {
    "motion_gain": ("concept_motion_fidelity", "base_concept_motion_fidelity"),
    "text_alignment_delta": ("text_alignment", "base_text_alignment"),
}
# The judge's readings (evaluate.judges) carry the prefix "base_" for the base model's clips.
DIRECTION = {
    **HIGHER_IS_BETTER,
    "motion_gain": True,
    "text_alignment_delta": True,
    "appearance_diversity": True,
    **{name: not name.startswith("judge_leak") for name in JUDGE_METRICS},
    **{f"base_{name}": not name.startswith("judge_leak") for name in JUDGE_METRICS},
}


@settings_class
class EvaluationConfig:
    """The `evaluate` section of a recipe.

    The gate asks whether the 95% CI of the paired motion gain excludes 0, so the number of
    prompt × seed pairs matters: with n pairs the interval's half-width is t(n−1)·sd/√n, and
    t is 12.7 for 2 pairs, 3.18 for 4 and 2.36 for 8. Use at least 4 prompts × 2 seeds.
    """

    prompts: tuple[str, ...] = Field((), description="evaluation prompts (`--prompts` overrides); ask for appearances "
                                     "unlike the reference clips: only such prompts can show leakage")
    seeds: tuple[int, ...] = Field((0, 1), description="seeds per prompt; each prompt × seed pair is sampled with the "
                                   "adapter and with the base model")
    clip_model: str = Field(DEFAULT_CLIP, description="CLIP model (folder or hub id) of the CLIP-based metrics")
    judge: Annotated[str, one_of(JUDGE_MODES)] = Field(
        "auto", description="run an installed judge on every clip: `auto` when one reads every prompt (the shapes "
        "world's reads shapes-world captions), `on` (fails if none does), `off`")


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
    mean, low, high, n = stats.mean_ci95(values)
    return {"mean": mean, "ci95_low": low, "ci95_high": high, "n": n}


def proportion_ci95(values: Sequence[float]) -> dict[str, float]:
    """Fraction of yes readings and its Wilson 95% interval (the judge's right/wrong, leaked/not)."""
    mean, low, high, n = stats.proportion_ci95(values)
    return {"mean": mean, "ci95_low": low, "ci95_high": high, "n": n}


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


def resize_references(references: Sequence[np.ndarray], width: int, height: int) -> list[np.ndarray]:
    """Reference clips resized to the generated size, every frame kept (concept motion fidelity
    compares motions of any length)."""
    return [resize_frames(clip, width, height, crop="resize") for clip in references]


def clips_hash(clips: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for clip in clips:
        digest.update(str(clip.shape).encode())
        digest.update(np.ascontiguousarray(clip).tobytes())
    return digest.hexdigest()


def pair_context(model: T2VModel, sampling: SamplingConfig, references: Sequence[np.ndarray]) -> str:
    """A hash of what makes one prompt × seed pair the same experiment across adapters: the base
    model's weights, the sampler settings of the base clip and the reference clips scored against."""
    base = {k: v for k, v in dataclasses.asdict(sampling).items()
            if k not in ("highway", "beta", "pli_tau", "lora_scale", "adapter", "decode_chunk")}
    weights = {k: v for k, v in model.identity.to_dict().items() if k != "source"}  # the same weights, wherever loaded from
    blob = json.dumps({"base_model": weights, "sampling": base, "references": clips_hash(references)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def aggregate_rows(per_video: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and 95% CI of every metric over the pairs: the paired differences first (the gate's
    evidence), then each per-video metric, then the judge's readings where they are defined."""
    aggregate = {name: mean_ci95([row[mine] - row[theirs] for row in per_video]) for name, (mine, theirs) in PAIRED.items()}
    aggregate.update({name: mean_ci95([row[name] for row in per_video]) for name in HIGHER_IS_BETTER})
    for name in (*JUDGE_METRICS, *(f"base_{n}" for n in JUDGE_METRICS)):
        values = [row[name] for row in per_video if row.get(name) is not None]
        if values:
            aggregate[name] = proportion_ci95(values)
    return aggregate


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
    judge = find_judge(config.prompts, references, config.judge)
    per_video, videos, fitted, spatial = [], {}, None, None
    for p, prompt in enumerate(config.prompts):
        for seed in config.seeds:
            tuned = generate_video(model, prompt, sampling, seed=seed)
            base = generate_video(model, prompt, base_sampling, seed=seed)
            if fitted is None:
                fitted = fit_references(references, len(tuned), tuned.shape[2], tuned.shape[1])
                spatial = resize_references(references, tuned.shape[2], tuned.shape[1])
                all_reference_frames = np.concatenate(fitted)
            videos[video_key("adapter", p, seed)] = tuned
            videos[video_key("base", p, seed)] = base
            row = {
                "prompt": prompt,
                "prompt_index": p,
                "seed": seed,
                "concept_motion_fidelity": float(concept_motion_fidelity(spatial, tuned)),
                "base_concept_motion_fidelity": float(concept_motion_fidelity(spatial, base)),
                "motion_fidelity": float(np.mean([motion_fidelity(r, tuned) for r in fitted])),
                "base_motion_fidelity": float(np.mean([motion_fidelity(r, base) for r in fitted])),
                "text_alignment": text_alignment(tuned, prompt, clip),
                "base_text_alignment": text_alignment(base, prompt, clip),
                "temporal_consistency": temporal_consistency(tuned, clip),
                "appearance_leakage": appearance_leakage(tuned, all_reference_frames, base, clip),
            }
            if judge is not None:
                row.update(judge.score(tuned, p))
                row.update(judge.score(base, p, prefix="base_"))
            per_video.append(row)
            if on_video is not None:
                on_video()
    aggregate = aggregate_rows(per_video)
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
        "pair_context": pair_context(model, sampling, references),
        "judge": judge.reference_look if judge is not None else None,
    }
    return EvaluationResult(per_video=per_video, aggregate=aggregate, settings=settings, videos=videos)
