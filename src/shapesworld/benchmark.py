"""`motionlora shapes benchmark`: which recipe learns a held-out motion best without copying the
reference clips' look — measured where leakage can happen, at matched motion rather than matched steps.

For a held-out concept (a motion the base model never saw) the reference clips show ONE
appearance. Motion LoRAs are trained on them through the product's own path (ingest → preprocess
→ train) and sampled on prompts that ask for *other* appearances; the judge reads every clip.

Two questions, two parts of the grid:

* **Where does leakage exist?** `presets[0]` (`all`, MotionDirector-like) at `learning_rates[0]`
  is trained in every regime: dual-path (a spatial LoRA soaks up appearance and is discarded),
  temporal-only (no spatial LoRA, as AnimateDiff's MotionLoRA), one-shot (temporal-only on a single
  clip), each for every step count in `steps` (longer training).
* **Which recipe wins?** In `sweep_regime` every preset × learning rate × step count is trained, and
  each adapter is sampled with every appearance-highway setting and every PLI τ: the Pareto front of
  motion correct (↑) against leakage (↓) — `benchmark_report`.

Step counts are trained by resuming one run (constant learning rate, no warmup: the adapter after
400 steps of a 1200-step run is the adapter of a 400-step run). Every finished (regime, concept,
preset, learning rate, steps) cell is a JSON file of per-clip scores under `cells/`, so an
interrupted benchmark recomputes nothing it finished; checkpoints resume the training in progress.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Sequence

import numpy as np
from pydantic import Field, field_validator

from motionlora.config import one_of, settings_class
from motionlora.motion.highway_settings import HIGHWAY_SCOPES, HighwaySettings
from motionlora.motion.presets import PRESETS
from shapesworld.render import BACKGROUNDS, COLORS, PLAIN_BACKGROUNDS, SHAPES, ClipSpec, caption, render_clip, trajectory

log = logging.getLogger(__name__)

# The one appearance each concept's reference clips show (textured backgrounds: a distinctive look).
REFERENCE_APPEARANCE: dict[str, tuple[str, str, str]] = {
    "zigzag": ("triangle", "green", "stripes"),
    "circle": ("square", "red", "checker"),
    "bounce": ("circle", "yellow", "gradient"),
    "spiral": ("triangle", "cyan", "black"),
}


@dataclass(frozen=True)
class Regime:
    """How the motion LoRA is trained: with the spatial LoRA beside it or not, on how many clips
    (None: the config's `reference_clips`)."""

    dual_path: bool
    reference_clips: int | None = None


REGIMES: dict[str, Regime] = {
    "dual-path": Regime(dual_path=True),
    "temporal-only": Regime(dual_path=False),
    "one-shot": Regime(dual_path=False, reference_clips=1),
}
BASE_MODEL, RENDERED = "base model", "rendered clips"


@dataclass(frozen=True)
class Variant:
    """One way to sample an adapter: appearance highway scope and β, PLI τ (None: adapter at every step)."""

    highway: HighwaySettings = HighwaySettings("off")
    pli_tau: int | None = None

    @property
    def label(self) -> str:
        ah = "AH off" if self.highway.scope == "off" else f"AH {self.highway.scope} β={self.highway.beta:g}"
        return ah if self.pli_tau is None else f"{ah}, PLI τ={self.pli_tau}"


def parse_highway(item: str) -> Variant:
    """A `highways` entry, `scope:β` or a scope alone (the default β), as a sampling variant."""
    scope, _, beta = str(item).partition(":")
    if scope not in HIGHWAY_SCOPES:
        raise ValueError(f"{item!r} — scope must be one of {list(HIGHWAY_SCOPES)}")
    try:
        return Variant(HighwaySettings(scope, float(beta)) if beta else HighwaySettings(scope))
    except ValueError:
        raise ValueError(f"{item!r} — β after ':' must be a number") from None


@settings_class
class BenchmarkConfig:
    """The grid (see the module docstring): the `benchmark` section of configs/shapes.yaml."""

    concepts: tuple[Annotated[str, one_of(REFERENCE_APPEARANCE)], ...] = Field(
        ("bounce",), min_length=1, description="held-out motions to learn (`zigzag`, `circle`, `bounce`, `spiral`), each "
        "with its reference look")
    regimes: tuple[Annotated[str, one_of(REGIMES)], ...] = Field(
        ("dual-path", "temporal-only", "one-shot"), min_length=1, description="where `presets[0]` at `learning_rates[0]` "
        "is trained: `dual-path`, `temporal-only`, `one-shot`")
    sweep_regime: Annotated[str, one_of(REGIMES)] = Field(
        "one-shot", description="the regime where every preset × learning rate × step count is trained")
    presets: tuple[Annotated[str, one_of(PRESETS)], ...] = Field(
        tuple(PRESETS), min_length=1, description="motion LoRA presets (see \"Adapters\"); the first one is the leakage probe")
    learning_rates: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = Field(
        (1e-3, 3e-3), min_length=1, description="the sweep's learning rates (motion and spatial LoRA)")
    steps: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (400, 1200), min_length=1, description="ascending step counts; each longer one resumes the shorter (constant "
        "learning rate)")
    highways: tuple[str, ...] = Field(
        ("off", "all:1.1", "deepest:1.1"), min_length=1, description="appearance-highway settings each adapter is sampled "
        "with, `scope:β` or `off`")
    pli_taus: tuple[Annotated[int, Field(ge=0, lt=1000)], ...] = Field(
        (500,), description="each adds a sampling variant with PLI (AH off): the adapter acts only at timesteps > τ")
    reference_clips: int = Field(4, ge=1, description="reference clips per concept (one-shot: 1)")
    prompts: int = Field(4, ge=1, description="other-appearance prompts per concept")
    seeds: int = Field(2, ge=1, description="seeds per prompt")
    batch_size: int = Field(8, ge=1, description="training batch size, as in `motionlora train`")
    rank: int = Field(16, ge=1, description="motion LoRA rank, as in `motionlora train`")
    sampling_steps: int = Field(20, ge=1, description="denoising steps, as in `motionlora generate`")
    frames: int = Field(8, ge=1, description="frames per clip, trained and sampled")
    size: int = Field(32, ge=1, description="clip width and height in pixels")
    seed: int = Field(0, description="training seed, as in `motionlora train`")
    threads: int = Field(2, ge=1, description="torch CPU threads")

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if list(steps) != sorted(set(steps)):
            raise ValueError("must ascend: each step count resumes the run of the previous one")
        return steps

    @field_validator("highways")
    @classmethod
    def _parse(cls, highways: tuple[str, ...]) -> tuple[str, ...]:
        for item in highways:
            parse_highway(item)
        return highways

    def variants(self) -> list[Variant]:
        """Every sampling variant of each adapter: the AH settings, then one per PLI τ."""
        return [parse_highway(item) for item in self.highways] + [Variant(pli_tau=tau) for tau in self.pli_taus]

    def clips_for(self, regime: str) -> int:
        return REGIMES[regime].reference_clips or self.reference_clips


@dataclass(frozen=True)
class TrainingRun:
    """One motion LoRA trained through every step count; each count is one cell."""

    regime: str
    concept: str
    preset: str
    learning_rate: float

    @property
    def key(self) -> str:
        return f"{self.regime}/{self.concept}/{self.preset}/lr{self.learning_rate:g}"


def training_runs(config: BenchmarkConfig) -> list[TrainingRun]:
    """`presets[0]` at `learning_rates[0]` in every regime; every preset × learning rate in the sweep regime."""
    runs = []
    for regime in dict.fromkeys((*config.regimes, config.sweep_regime)):
        sweep = regime == config.sweep_regime
        for concept in config.concepts:
            for preset in config.presets if sweep else config.presets[:1]:
                for lr in config.learning_rates if sweep else config.learning_rates[:1]:
                    runs.append(TrainingRun(regime, concept, preset, float(lr)))
    return runs


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


class ClipScorer:
    """Every metric of one generated clip against one concept's references."""

    def __init__(self, reference: ClipSpec, reference_clips: Sequence[np.ndarray], clip_model) -> None:
        self.reference, self.reference_clips, self.clip_model = reference, list(reference_clips), clip_model
        self.tracks = [trajectory(reference, seed=seed) for seed in range(len(reference_clips))]
        frames = np.concatenate(self.reference_clips)
        self.reference_embedding = clip_model.image_embeddings(frames).mean(dim=0)

    def __call__(self, frames: np.ndarray, asked: ClipSpec) -> dict[str, float]:
        """motion_correct, trajectory_error (px), concept_fidelity (the gate's motion metric),
        attributes_correct, clip_score (shapes-CLIP text alignment), leak_* (the judge reads the
        reference's colour / shape / background though another was asked for), reference_similarity
        (CLIP cosine × 100 of the clip's frames to the reference frames)."""
        from motionlora.evaluate.metrics import concept_motion_fidelity, text_alignment
        from shapesworld.judge import judge_clip, trajectory_error

        judged = judge_clip(frames)
        leaks = {name: float(getattr(judged, name) == getattr(self.reference, name)) for name in ("color", "shape", "background")}
        return {
            "motion_correct": float(judged.motion == asked.motion),
            "trajectory_error": float(np.mean([trajectory_error(judged.trajectory, track) for track in self.tracks])),
            "concept_fidelity": concept_motion_fidelity(self.reference_clips, frames),
            "attributes_correct": float(all(getattr(judged, n) == getattr(asked, n) for n in ("color", "shape", "background"))),
            "clip_score": text_alignment(frames, caption(asked), self.clip_model),
            "leak_color": leaks["color"],
            "leak_shape": leaks["shape"],
            "leak_background": leaks["background"],
            "leak_any": float(any(leaks.values())),
            "reference_similarity": float((self.clip_model.image_embeddings(frames) @ self.reference_embedding).mean()) * 100.0,
        }


@dataclass
class ConceptSetup:
    """One (regime, concept): its preprocessed references, the prompts and the scorer."""

    data_dir: Path
    reference: ClipSpec
    prompts: list[ClipSpec]
    score: ClipScorer


def _prepare(concept: str, clips: int, model_dir: str, work: Path, config: BenchmarkConfig, clip_model) -> ConceptSetup:
    from motionlora.data.ingest import IngestSettings, ingest
    from motionlora.data.preprocess import PreprocessSettings, preprocess
    from motionlora.data.sources import open_source
    from shapesworld.world import write_clips

    spec = reference_spec(concept, config)
    references = write_clips(spec, clips, work / "source")
    if not (work / "data").is_dir():
        ingest(open_source(str(work / "source")), work / "ingest", IngestSettings(concept=concept), progress=False)
        preprocess(work / "ingest", model_dir, work / "data", PreprocessSettings(frames=config.frames, width=config.size, height=config.size),
                   progress=False)
    return ConceptSetup(work / "data", spec, other_appearances(spec, config.prompts, config.seed), ClipScorer(spec, references, clip_model))


def score_clips(setup: ConceptSetup, config: BenchmarkConfig, make: Callable[[ClipSpec, int], np.ndarray]) -> dict[str, list[dict[str, float]]]:
    """Scores of the clip `make(spec, seed)` for every (prompt, seed) (`other`) and for the
    references' own prompt per seed (`own`: did the LoRA learn the motion at all)."""
    return {"other": [setup.score(make(spec, seed), spec) for spec in setup.prompts for seed in range(config.seeds)],
            "own": [setup.score(make(setup.reference, seed), setup.reference) for seed in range(config.seeds)]}


def sampler(model, config: BenchmarkConfig, variant: Variant | None) -> Callable[[ClipSpec, int], np.ndarray]:
    """Sample `caption(spec)` with the adapter in `variant`, or without the adapter for None."""
    from motionlora.generate import generate_video
    from motionlora.sampling import SamplingConfig

    sampling = SamplingConfig(steps=config.sampling_steps, guidance_scale=1.0, frames=config.frames, adapter=variant is not None,
                              **({"highway": variant.highway.scope, "beta": variant.highway.beta, "pli_tau": variant.pli_tau}
                                 if variant else {}))
    return lambda spec, seed: generate_video(model, caption(spec), sampling, seed=seed)


def _write_cell(path: Path, cell: dict[str, Any]) -> None:
    """Write beside, then rename: a cell file exists only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(cell, indent=1) + "\n")
    partial.replace(path)


def _baseline_cell(setup: ConceptSetup, model_dir: str, config: BenchmarkConfig) -> dict[str, Any]:
    """The base model without an adapter, and the asked specs rendered exactly (the ceiling)."""
    from motionlora.models import load_t2v_model

    return {BASE_MODEL: score_clips(setup, config, sampler(load_t2v_model(model_dir), config, None)),
            RENDERED: score_clips(setup, config, lambda spec, seed: render_clip(spec, seed=1000 + seed))}


def _train(run: TrainingRun, steps: int, data_dir: Path, model_dir: str, out_dir: Path, config: BenchmarkConfig) -> Path:
    from motionlora.train.config import TrainConfig
    from motionlora.tracking import TrackingOptions
    from motionlora.train.loop import train

    recipe = TrainConfig(preset=run.preset, rank=config.rank, steps=steps, batch_size=config.batch_size,
                         learning_rate=run.learning_rate, spatial_learning_rate=run.learning_rate,
                         dual_path=REGIMES[run.regime].dual_path, seed=config.seed,
                         checkpoint_every=math.gcd(math.gcd(*config.steps), 200), keep_checkpoints=1,
                         log_every=max(1, steps // 4))
    return train(recipe, data_dir, out_dir, model=model_dir, tracking=TrackingOptions(enabled=False)).adapter_dir


def cell_path(out: Path, run: TrainingRun, steps: int) -> Path:
    return out / "cells" / run.key / f"steps{steps}.json"


def _adapter_cell(adapter: Path, setup: ConceptSetup, model_dir: str, config: BenchmarkConfig) -> dict[str, Any]:
    from motionlora.models import load_t2v_model
    from motionlora.motion.adapter import load_motion_adapter

    model = load_t2v_model(model_dir)
    load_motion_adapter(model.unet, adapter, model.identity)
    return {variant.label: score_clips(setup, config, sampler(model, config, variant)) for variant in config.variants()}


def machine() -> dict[str, Any]:
    """Where the benchmark ran: host, CPU count, torch, and the GPU if one was used."""
    import os

    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cells(out: Path, config: BenchmarkConfig, model_dir: str, clip_dir: str) -> Iterator[tuple[str, str]]:
    """Compute every missing cell, yielding (what, status) as it goes."""
    from motionlora.evaluate.clip import load_clip

    clip_model = load_clip(clip_dir)
    setups: dict[tuple[str, str], ConceptSetup] = {}

    def setup_for(regime: str, concept: str) -> ConceptSetup:
        if (regime, concept) not in setups:
            clips = config.clips_for(regime)
            setups[regime, concept] = _prepare(concept, clips, model_dir, out / "work" / f"{concept}-{clips}clips", config, clip_model)
        return setups[regime, concept]

    for regime in dict.fromkeys((*config.regimes, config.sweep_regime)):
        for concept in config.concepts:
            path = out / "cells" / regime / concept / "baseline.json"
            if not path.exists():
                _write_cell(path, _baseline_cell(setup_for(regime, concept), model_dir, config))
                yield f"{regime}/{concept}/baseline", "done"
    for run in training_runs(config):
        for steps in config.steps:
            path = cell_path(out, run, steps)
            if path.exists():
                yield f"{run.key}/steps{steps}", "already done"
                continue
            setup = setup_for(run.regime, run.concept)
            start = time.perf_counter()
            adapter = _train(run, steps, setup.data_dir, model_dir, out / "work" / "runs" / run.key, config)
            trained = time.perf_counter() - start
            _write_cell(path, {"train_seconds": trained, "variants": _adapter_cell(adapter, setup, model_dir, config)})
            yield f"{run.key}/steps{steps}", f"done (trained {trained:.0f} s, sampled {time.perf_counter() - start - trained:.0f} s)"


def run_benchmark(model_dir: str, clip_dir: str, out_dir: str | Path, config: BenchmarkConfig = BenchmarkConfig(),
                  report: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Compute every cell not yet on disk under `out_dir`, then write `results.json`, `table.md` and
    `pareto.png` from all of them; returns the results."""
    import torch

    from shapesworld.benchmark_report import summarize, write_report

    out = Path(out_dir)
    torch.set_num_threads(config.threads)
    started = datetime.now(timezone.utc)
    for what, status in _cells(out, config, model_dir, clip_dir):
        report(f"{what}: {status}")
    results = {"config": asdict(config), "model": model_dir, "clip": clip_dir, "machine": machine(),
               "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "started": started.isoformat(timespec="seconds"),
               **summarize(out, config)}
    write_report(results, out)
    return results
