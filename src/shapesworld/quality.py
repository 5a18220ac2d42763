"""Judge-based quality of a shapes T2V model on base-motion prompts.

Each sample's prompt is the caption of a random base-motion spec; the judge reads colour, shape,
background and motion from the generated pixels and they are compared with the spec. This is the
pretraining quality bar (colour ≥ 0.9, background ≥ 0.9, motion ≥ 0.8, shape ≥ 0.7).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterator

from motionlora.generate import generate_video
from motionlora.sampling import SamplingConfig
from motionlora.models.loading import load_t2v_model
from shapesworld.judge import judge_accuracy
from shapesworld.render import ClipSpec, caption
from shapesworld.world import random_specs

QUALITY_BAR = {"color": 0.9, "background": 0.9, "motion": 0.8, "shape": 0.7}
# Sampling for the bar: 20 DDIM steps, no CFG unless asked for (CFG needs a model trained with
# caption dropout: on one trained without it CFG > 1 hurt).
BASE_SAMPLING = SamplingConfig(steps=20, guidance_scale=1.0, frames=8, highway="off")
EVAL_SPEC_SEED = 12345  # disjoint from the pretraining pool's spec seed


def generated_clips(model_dir: str | os.PathLike, samples: int, seed: int = EVAL_SPEC_SEED,
                    sampling: SamplingConfig = BASE_SAMPLING, device: str = "cpu") -> Iterator[tuple[ClipSpec, "object"]]:
    """(spec, generated frames) for `samples` random base-motion specs; sample i uses noise seed i
    (drawn on CPU, so the samples do not depend on `device`)."""
    model = load_t2v_model(model_dir, device=device)
    for index, spec in enumerate(random_specs(samples, seed, frames=sampling.frames)):
        yield spec, generate_video(model, caption(spec), sampling, seed=index)


def evaluate_base(model_dir: str | os.PathLike, samples: int = 96, seed: int = EVAL_SPEC_SEED,
                  sampling: SamplingConfig = BASE_SAMPLING,
                  motion_confusion: Counter | None = None, device: str = "cpu") -> dict[str, float]:
    """Judge accuracies (color, shape, background, motion, all, count) over `samples` generations;
    `motion_confusion` (optional) collects the (asked, read) motion pairs."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    return judge_accuracy(generated_clips(model_dir, samples, seed, sampling, device), motion_confusion)


def confusion_rows(motion_confusion: Counter) -> dict[str, dict[str, int]]:
    """{asked: {read: count}} over every motion seen in either role, zeros included."""
    motions = sorted({name for pair in motion_confusion for name in pair})
    return {asked: {read: motion_confusion[(asked, read)] for read in motions} for asked in motions}


def meets_bar(scores: dict[str, float]) -> dict[str, bool]:
    return {name: scores[name] >= threshold for name, threshold in QUALITY_BAR.items()}


def record_scores(model_dir: str | os.PathLike, scores: dict[str, float], samples: int, seed: int,
                  motion_confusion: dict[str, dict[str, int]], sampling: SamplingConfig = BASE_SAMPLING) -> None:
    """Merge the judge numbers (with how they were produced) into MODEL/training.json."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    path = Path(model_dir) / "training.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record["judge"] = {
        "scores": scores,
        "motion_confusion": motion_confusion,
        "command": f"motionlora shapes evaluate-base --model {model_dir} --samples {samples} --seed {seed}"
                   f" --guidance {sampling.guidance_scale:g}",
        "sampling": asdict(sampling),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
