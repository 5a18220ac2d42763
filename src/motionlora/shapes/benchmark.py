"""`motionlora shapes benchmark`: does TAP and AH reduce appearance leakage at equal motion fidelity?

For each held-out concept (a motion the base model never saw) the reference clips show ONE
appearance. A motion LoRA is trained on them with each preset (`all` = MotionDirector-like,
`reference`, `tap-k`, `tap-qk`) through the product's own path (ingest → preprocess → train), and
then sampled with each appearance-highway setting on prompts that ask for *other* appearances.
The judge reads every generated clip's pixels:

* motion fidelity — judged motion is the concept; trajectory error (px) against the reference
  clips; the evaluation's tracklet score (`evaluate.metrics.motion_fidelity`);
* text alignment — judged colour, shape and background match the prompt; shapes-CLIP score;
* leakage — the reference's colour / shape / background shows up although the prompt asked for
  another one;
* motion on the reference prompt — the judged motion is the concept when the prompt asks for the
  references' own appearance: whether the LoRA learned the motion at all, apart from transferring
  it to other appearances.

Every number comes with a Student-t 95% CI over the clips (concepts × prompts × seeds). Two rows
frame the others: rendered clips of the asked specs (the best any model can score; e.g. two
correct zigzags differ by a few px of trajectory, their random phases differ) and the base model
without an adapter on the same prompts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motionlora.shapes.render import BACKGROUNDS, COLORS, PLAIN_BACKGROUNDS, SHAPES, ClipSpec, caption, render_clip, trajectory

log = logging.getLogger(__name__)

PRESETS = ("all", "reference", "tap-k", "tap-qk")
# (label, scope, beta): the AH settings of the paper's ablation.
HIGHWAYS: tuple[tuple[str, str, float], ...] = (
    ("off", "off", 1.0),
    ("all β=1.0", "all", 1.0),
    ("all β=1.1", "all", 1.1),
    ("deepest β=1.1", "deepest", 1.1),
)
# The one appearance each concept's reference clips show.
REFERENCE_APPEARANCE: dict[str, tuple[str, str, str]] = {
    "zigzag": ("triangle", "green", "stripes"),
    "circle": ("square", "red", "checker"),
    "bounce": ("circle", "yellow", "gradient"),
    "spiral": ("triangle", "cyan", "black"),
}
METRICS = ("motion_correct", "trajectory_error", "motion_fidelity", "attributes_correct", "clip_score",
           "leak_color", "leak_shape", "leak_background", "leak_any")
OWN_PROMPT_METRIC = "reference_motion_correct"


@dataclass(frozen=True)
class BenchmarkConfig:
    """What the benchmark trains and samples. Defaults fit ~45 min on 2 CPU cores. Batch 8 × 400
    steps: at batch 2 × 200 steps no LoRA reproduced its concept even on the references' own prompt."""

    concepts: tuple[str, ...] = ("zigzag", "circle", "bounce")
    presets: tuple[str, ...] = PRESETS
    reference_clips: int = 4
    prompts: int = 4
    seeds: int = 3
    steps: int = 400
    batch_size: int = 8
    learning_rate: float = 1e-3
    rank: int = 16
    sampling_steps: int = 20
    frames: int = 8
    size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [c for c in self.concepts if c not in REFERENCE_APPEARANCE]
        if unknown:
            raise ValueError(f"concepts {unknown} are not held-out motions with a reference appearance: {sorted(REFERENCE_APPEARANCE)}")
        bad = [p for p in self.presets if p not in PRESETS]
        if bad:
            raise ValueError(f"presets {bad} are not among {list(PRESETS)}")
        for key in ("reference_clips", "prompts", "seeds", "steps", "batch_size", "sampling_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")


def reference_spec(concept: str, config: BenchmarkConfig) -> ClipSpec:
    shape, color, background = REFERENCE_APPEARANCE[concept]
    return ClipSpec(shape, color, background, concept, frames=config.frames, size=config.size)


def other_appearances(reference: ClipSpec, count: int, seed: int) -> list[ClipSpec]:
    """`count` specs with the reference's motion and a colour, shape AND background that all differ
    from the reference's (and an object that does not vanish into a plain background)."""
    rng = np.random.default_rng(seed)
    choices = [
        ClipSpec(shape, color, background, reference.motion, frames=reference.frames, size=reference.size)
        for shape in SHAPES if shape != reference.shape
        for color in COLORS if color != reference.color
        for background in BACKGROUNDS if background != reference.background and PLAIN_BACKGROUNDS.get(background) != COLORS[color]
    ]
    return [choices[i] for i in rng.choice(len(choices), size=min(count, len(choices)), replace=False)]


def score_clip(frames: np.ndarray, spec: ClipSpec, reference: ClipSpec, reference_clips: Sequence[np.ndarray],
               reference_tracks: Sequence[np.ndarray], clip_scorer) -> dict[str, float]:
    """Every metric of one generated clip (see the module docstring)."""
    from motionlora.evaluate.metrics import motion_fidelity, text_alignment
    from motionlora.shapes.judge import judge_clip, trajectory_error

    judged = judge_clip(frames)
    leaks = {name: float(getattr(judged, name) == getattr(reference, name)) for name in ("color", "shape", "background")}
    return {
        "motion_correct": float(judged.motion == spec.motion),
        "trajectory_error": float(np.mean([trajectory_error(judged.trajectory, track) for track in reference_tracks])),
        "motion_fidelity": float(np.mean([motion_fidelity(ref, frames) for ref in reference_clips])),
        "attributes_correct": float(all(getattr(judged, n) == getattr(spec, n) for n in ("color", "shape", "background"))),
        "clip_score": text_alignment(frames, caption(spec), clip_scorer),
        "leak_color": leaks["color"],
        "leak_shape": leaks["shape"],
        "leak_background": leaks["background"],
        "leak_any": float(any(leaks.values())),
    }


def _prepare_data(concept: str, spec: ClipSpec, model_dir: str, work: Path, config: BenchmarkConfig) -> tuple[Path, list[np.ndarray]]:
    from motionlora.data.ingest import IngestSettings, ingest
    from motionlora.data.preprocess import PreprocessSettings, preprocess
    from motionlora.data.sources import open_source
    from motionlora.shapes.world import write_clips

    clips = write_clips(spec, config.reference_clips, work / "source")
    ingest(open_source(str(work / "source")), work / "ingest", IngestSettings(concept=concept), progress=False)
    preprocess(work / "ingest", model_dir, work / "data", PreprocessSettings(frames=config.frames, width=config.size, height=config.size),
               progress=False)
    return work / "data", clips


def _train_adapter(preset: str, data_dir: Path, model_dir: str, out_dir: Path, config: BenchmarkConfig) -> Path:
    from motionlora.train.config import TrainConfig
    from motionlora.train.loop import TrackingOptions, train

    recipe = TrainConfig(preset=preset, rank=config.rank, steps=config.steps, batch_size=config.batch_size,
                         learning_rate=config.learning_rate, spatial_learning_rate=config.learning_rate,
                         seed=config.seed, checkpoint_every=config.steps, keep_checkpoints=1, log_every=max(1, config.steps // 4))
    return train(recipe, data_dir, out_dir, model=model_dir, tracking=TrackingOptions(enabled=False)).adapter_dir


def _sample_cell(model, specs: Sequence[ClipSpec], config: BenchmarkConfig, highway: tuple[str, str, float] | None,
                 score) -> list[dict[str, float]]:
    """Generate and score every (prompt, seed) clip; `highway` None samples the base model."""
    from motionlora.generate import SamplingConfig, generate_video

    scope, beta = (highway[1], highway[2]) if highway else ("off", 1.0)
    sampling = SamplingConfig(steps=config.sampling_steps, guidance_scale=1.0, frames=config.frames, highway=scope, beta=beta,
                              adapter=highway is not None)
    return [score(generate_video(model, caption(spec), sampling, seed=seed), spec)
            for spec in specs for seed in range(config.seeds)]


def run_benchmark(model_dir: str, clip_dir: str, out_dir: str | Path, config: BenchmarkConfig = BenchmarkConfig()) -> dict[str, Any]:
    """Train, sample and score every (concept, preset, highway) cell; write `results.json`,
    `table.md` and `plot.png` to `out_dir` and return the results."""
    from motionlora.evaluate.clip import load_clip
    from motionlora.models import load_t2v_model
    from motionlora.motion.adapter import load_motion_adapter
    from motionlora.shapes.judge import judge_clip

    out = Path(out_dir)
    clip_scorer = load_clip(clip_dir)
    rows: dict[str, list[dict[str, float]]] = {}
    own: dict[str, list[dict[str, float]]] = {}

    def own_motion(frames: np.ndarray, asked: ClipSpec) -> dict[str, float]:
        return {OWN_PROMPT_METRIC: float(judge_clip(frames).motion == asked.motion)}

    for concept in config.concepts:
        spec = reference_spec(concept, config)
        work = out / "work" / concept
        data_dir, references = _prepare_data(concept, spec, model_dir, work, config)
        tracks = [trajectory(spec, seed=seed) for seed in range(config.reference_clips)]
        prompts = other_appearances(spec, config.prompts, config.seed)

        def score(frames: np.ndarray, asked: ClipSpec) -> dict[str, float]:
            return score_clip(frames, asked, spec, references, tracks, clip_scorer)

        def sample(key: str, model, highway: tuple[str, str, float] | None) -> None:
            """Add one cell's clips: the prompts asking for other appearances, and the references' own prompt."""
            rows.setdefault(key, []).extend(_sample_cell(model, prompts, config, highway, score))
            own.setdefault(key, []).extend(_sample_cell(model, [spec], config, highway, own_motion))

        rows.setdefault("rendered clips|-", []).extend(
            score(render_clip(asked, seed=1000 + seed), asked) for asked in prompts for seed in range(config.seeds))
        own.setdefault("rendered clips|-", []).extend(own_motion(render_clip(spec, seed=1000 + seed), spec) for seed in range(config.seeds))
        for preset in config.presets:
            adapter = _train_adapter(preset, data_dir, model_dir, work / preset, config)
            model = load_t2v_model(model_dir)
            load_motion_adapter(model.unet, adapter, model.identity)
            if preset == config.presets[0]:
                sample("base model|-", model, None)
            for highway in HIGHWAYS:
                sample(f"{preset}|{highway[0]}", model, highway)
            log.info("%s / %s done", concept, preset)
    results = {"config": asdict(config), "model": model_dir, "clip": clip_dir, "cells": summarize(rows, own)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "table.md").write_text(markdown_table(results["cells"]))
    plot(results["cells"], out / "plot.png")
    return results


def summarize(rows: dict[str, list[dict[str, float]]], own: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """Per cell (preset, highway): mean and 95% CI of every metric over its clips (`rows`, prompts
    asking for other appearances) and of the motion on the references' own prompt (`own`)."""
    from motionlora.evaluate.run import mean_ci95

    cells = []
    for key, scores in rows.items():
        preset, highway = key.split("|")
        cells.append({"preset": preset, "highway": highway, "clips": len(scores),
                      **{metric: mean_ci95([s[metric] for s in scores]) for metric in METRICS},
                      OWN_PROMPT_METRIC: mean_ci95([s[OWN_PROMPT_METRIC] for s in own[key]])})
    return cells


def _cell(stat: dict[str, float], digits: int = 2) -> str:
    half = (stat["ci95_high"] - stat["ci95_low"]) / 2
    return f"{stat['mean']:.{digits}f} ± {half:.{digits}f}"


def markdown_table(cells: Sequence[dict[str, Any]]) -> str:
    """The results as a markdown table: mean ± 95% CI half-width."""
    head = ("| preset | AH | clips | motion on ref. prompt ↑ | motion correct ↑ | traj. error px ↓ | tracklet fidelity ↑ "
            "| attributes correct ↑ | shapes-CLIP ↑ | leak colour ↓ | leak shape ↓ | leak background ↓ | leak any ↓ |")
    lines = [head, "|" + "---|" * 13]
    for c in cells:
        values = [_cell(c[m], 1 if m == "clip_score" else 2) for m in (OWN_PROMPT_METRIC, *METRICS)]
        lines.append(f"| {c['preset']} | {c['highway']} | {c['clips']} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def plot(cells: Sequence[dict[str, Any]], path: Path) -> None:
    """Leakage (any attribute) against motion correctness per cell, with 95% CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 5.5))
    markers = {"base model": "x", "all": "o", "reference": "s", "tap-k": "^", "tap-qk": "v"}
    for c in cells:
        x, y = c["leak_any"], c["motion_correct"]
        axis.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["ci95_low"]], [x["ci95_high"] - x["mean"]]],
                      yerr=[[y["mean"] - y["ci95_low"]], [y["ci95_high"] - y["mean"]]],
                      fmt=markers.get(c["preset"], "o"), capsize=2, alpha=0.8, label=f"{c['preset']} / AH {c['highway']}")
    axis.set_xlabel("appearance leakage (reference colour, shape or background shows up) ↓")
    axis.set_ylabel("motion correct (judge reads the concept's motion) ↑")
    axis.set_title("Shapes world: leakage vs motion fidelity (95% CI)")
    axis.legend(fontsize=6, ncol=2, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
