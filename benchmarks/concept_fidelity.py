"""Validate `concept_motion_fidelity` against ground truth: does it tell a concept's motion from the others?

Three checks, each an AUC of "same concept" scores against "other concept" scores (1.0 = every
clip of the concept outscores every clip of another; 0.5 = chance):

* rendered — shapes-world clips of every motion (base motions and held-out concepts); references
  in one appearance, test clips in random other appearances, start positions and phases, clean and
  with pixel noise;
* sprites — a world the metric was not tuned on: a randomly textured sprite on plain, checker or
  low-frequency noise backgrounds, six motion concepts, 64x64 x 16 frames;
* generated — clips the shapes base model generates for base-motion prompts (which it performs)
  and held-out-concept prompts (which it never learned), each scored against rendered references
  of the asked motion; the label is the judge's "motion correct". This is agreement with the judge
  on generated clips, blur and all.

`python benchmarks/concept_fidelity.py [--quick] [--record]` prints the tables (markdown) and, with
--record, stores the headline numbers in results.json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from motionlora.evaluate.metrics import concept_motion_fidelity  # noqa: E402
from shapesworld.render import BACKGROUNDS, COLORS, MOTIONS, SHAPES, ClipSpec, caption, render_clip  # noqa: E402

REFERENCES = 4
SPRITE_CONCEPTS = ("right", "up", "circle-ccw", "circle-cw", "zigzag", "bounce")


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = np.asarray(positive, float)[:, None], np.asarray(negative, float)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def per_concept_auc(references: dict[str, list[np.ndarray]], tests: list[tuple[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """For each concept: AUC and mean scores of its own test clips against every other clip."""
    table = {}
    for concept, refs in references.items():
        scores = [(label == concept, concept_motion_fidelity(refs, clip)) for label, clip in tests]
        pos = [s for same, s in scores if same]
        neg = [s for same, s in scores if not same]
        table[concept] = {"auc": auc(pos, neg), "same": float(np.mean(pos)), "other": float(np.mean(neg))}
    return table


# --- rendered shapes-world clips ---------------------------------------------------------------


def _random_spec(rng: np.random.Generator, motion: str) -> ClipSpec:
    while True:
        try:
            return ClipSpec(str(rng.choice(SHAPES)), str(rng.choice(list(COLORS))), str(rng.choice(BACKGROUNDS)), motion)
        except ValueError:  # colour equal to the plain background: draw again
            continue


def rendered_check(per_motion: int, noise: float, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    references = {m: [render_clip(ClipSpec("triangle", "green", "stripes", m), seed=1000 + i) for i in range(REFERENCES)]
                  for m in MOTIONS}
    tests = []
    for motion in MOTIONS:
        for _ in range(per_motion):
            clip = render_clip(_random_spec(rng, motion), seed=int(rng.integers(1 << 30))).astype(float)
            clip += rng.normal(0.0, noise, clip.shape) if noise else 0.0
            tests.append((motion, np.clip(clip, 0, 255).astype(np.uint8)))
    return per_concept_auc(references, tests)


# --- textured sprites, outside the shapes world ------------------------------------------------

SIZE, FRAMES = 64, 16


def _sprite_path(concept: str, rng: np.random.Generator) -> np.ndarray:
    """(FRAMES, 2) centre per frame: random start, phase, amplitude and speed within the concept."""
    t = np.arange(FRAMES) / FRAMES
    speed = rng.uniform(0.8, 1.2)
    cx, cy = rng.uniform(22, 42, size=2)
    if concept in ("right", "up"):
        travel = 30 * speed * (t - 0.5)
        return np.stack([cx + travel, np.full_like(t, cy)] if concept == "right" else [np.full_like(t, cx), cy - travel], 1)
    if concept.startswith("circle"):
        sense = 1.0 if concept == "circle-ccw" else -1.0
        angle = rng.uniform(0, 2 * np.pi) + sense * 2 * np.pi * t * speed
        radius = rng.uniform(11, 14)
        return np.stack([32 + radius * np.cos(angle), 32 - radius * np.sin(angle)], 1)
    if concept == "zigzag":
        x = cx - 12 + 24 * t
        alternating = np.where((np.arange(FRAMES) + rng.integers(2)) % 2 == 0, 1.0, -1.0)
        return np.stack([x, cy + rng.uniform(5, 7) * alternating], 1)
    phase = (2 * t + rng.uniform(0, 0.5)) % 1.0  # bounce: two hops while drifting right
    return np.stack([cx - 10 + 20 * t, 52 - rng.uniform(28, 34) * 4 * phase * (1 - phase)], 1)


def _background(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "plain":
        return np.broadcast_to(rng.uniform(0, 255, 3), (SIZE, SIZE, 3)).copy()
    if kind == "checker":
        rows, cols = np.indices((SIZE, SIZE))
        cell = int(rng.integers(4, 9))
        on = ((rows // cell + cols // cell) % 2)[..., None]
        return np.where(on, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))
    import cv2  # low-frequency noise: a coarse random grid upsampled smoothly

    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    return cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(float)


def sprite_clip(concept: str, background: str, rng: np.random.Generator) -> np.ndarray:
    """A randomly textured disc or square (radius 6-8 px) following the concept's path."""
    scene = _background(background, rng)
    texture = rng.uniform(0, 255, (SIZE, SIZE, 3))
    radius, square = rng.uniform(6, 8), bool(rng.integers(2))
    rows, cols = np.indices((SIZE, SIZE))
    frames = []
    for x, y in _sprite_path(concept, rng):
        inside = (np.maximum(abs(cols - x), abs(rows - y)) if square else np.hypot(cols - x, rows - y)) <= radius
        frames.append(np.where(inside[..., None], np.roll(texture, (int(y), int(x)), (0, 1)), scene))
    return np.stack(frames).astype(np.uint8)


def sprite_check(per_cell: int, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    backgrounds = ("plain", "checker", "lowfreq")
    references = {c: [sprite_clip(c, "plain", rng) for _ in range(REFERENCES)] for c in SPRITE_CONCEPTS}
    tests = [(c, sprite_clip(c, b, rng)) for c in SPRITE_CONCEPTS for b in backgrounds for _ in range(per_cell)]
    return per_concept_auc(references, tests)


# --- generated clips against the judge ---------------------------------------------------------


def generated_check(model_dir: str, per_motion: int, seed: int = 0) -> dict[str, float]:
    """AUC of the score (vs rendered references of the asked motion) for the judge's motion-correct."""
    from motionlora.generate import generate_video
    from motionlora.sampling import SamplingConfig
    from motionlora.models import load_t2v_model
    from shapesworld.judge import judge_clip

    rng = np.random.default_rng(seed)
    model = load_t2v_model(model_dir)
    sampling = SamplingConfig(steps=20, guidance_scale=1.0, frames=8)
    correct, wrong, per_motion_rows = [], [], {}
    for motion in MOTIONS:
        references = [render_clip(_random_spec(rng, motion), seed=2000 + i) for i in range(REFERENCES)]
        for _ in range(per_motion):
            clip = generate_video(model, caption(_random_spec(rng, motion)), sampling, seed=int(rng.integers(1 << 30)))
            ok = judge_clip(clip).motion == motion
            score = concept_motion_fidelity(references, clip)
            (correct if ok else wrong).append(score)
            per_motion_rows.setdefault(motion, []).append(ok)
    return {"auc": auc(correct, wrong) if correct and wrong else float("nan"), "correct": len(correct),
            "wrong": len(wrong), "mean_correct": float(np.mean(correct)) if correct else float("nan"),
            "mean_wrong": float(np.mean(wrong)) if wrong else float("nan"),
            "judged_correct_by_motion": {m: float(np.mean(v)) for m, v in per_motion_rows.items()}}


def _table(title: str, rows: dict[str, dict[str, float]]) -> str:
    lines = [f"**{title}**", "", "| concept | AUC | mean score, same concept | mean score, other concepts |", "|---|---|---|---|"]
    lines += [f"| {c} | {r['auc']:.3f} | {r['same']:.3f} | {r['other']:.3f} |" for c, r in rows.items()]
    aucs = [r["auc"] for r in rows.values()]
    lines.append(f"| **mean / min** | **{np.mean(aucs):.3f} / {min(aucs):.3f}** | | |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips per concept (a smoke run)")
    parser.add_argument("--model", default="models/shapes", help="shapes base model for the generated check")
    parser.add_argument("--record", action="store_true", help="store the headline AUCs in results.json")
    args = parser.parse_args(argv)
    n = 3 if args.quick else 12
    checks: list[tuple[str, Callable[[], dict]]] = [
        ("rendered shapes-world clips, clean", lambda: rendered_check(n, 0.0)),
        ("rendered shapes-world clips, pixel noise σ=12", lambda: rendered_check(n, 12.0, seed=1)),
        ("textured sprites on plain / checker / low-frequency backgrounds", lambda: sprite_check(max(1, n // 3))),
    ]
    results = {}
    for title, run in checks:
        results[title] = run()
        print(_table(title, results[title]))
    generated = generated_check(args.model, 2 if args.quick else 8)
    print(f"**generated clips of the shapes base model vs the judge's motion-correct**: AUC {generated['auc']:.3f} "
          f"({generated['correct']} judged correct, mean score {generated['mean_correct']:.3f}; {generated['wrong']} wrong, "
          f"mean {generated['mean_wrong']:.3f}); judged correct by asked motion: {generated['judged_correct_by_motion']}")
    if args.record:
        from record import record

        for key, title in (("concept_fidelity_rendered_auc_mean", checks[0][0]), ("concept_fidelity_sprites_auc_mean", checks[2][0])):
            rows = results[title]
            record(key, float(np.mean([r["auc"] for r in rows.values()])), "rendered clips",
                   {"min_auc": min(r["auc"] for r in rows.values()), "per_concept": {c: r["auc"] for c, r in rows.items()}})
        record("concept_fidelity_judge_agreement_auc", generated["auc"], args.model, generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
