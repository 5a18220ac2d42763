"""Re-measure one shapes-benchmark adapter on more prompts and seeds, paired with the base model, to
tell leakage from noise: a grid cell has 8 clips, where a Wilson interval for 2 leaks of 8 still
reaches 0.07–0.59. Prompts are fresh other appearances (colour, shape and background all differ
from the references'), each sampled with and without the adapter at the same seed.

    python benchmarks/leakage_confirm.py --adapter benchmarks/shapes/work/runs/one-shot/bounce/all/lr0.004/adapter \
        --concept bounce --reference-clips 1 --prompts 12 --seeds 4 --record
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from motionlora.evaluate.run import mean_ci95, proportion_ci95
from shapesworld.benchmark import (
    BenchmarkConfig,
    ClipScorer,
    ConceptSetup,
    Variant,
    sampler,
    machine,
    other_appearances,
    reference_spec,
    score_clips,
)
from shapesworld.render import render_clip

JUDGED = ("motion_correct", "attributes_correct", "leak_color", "leak_shape", "leak_background", "leak_any")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True, help="a motion adapter trained by the shapes benchmark")
    parser.add_argument("--concept", default="bounce")
    parser.add_argument("--reference-clips", type=int, default=1, help="the clips it was trained on (seeds 0..N-1)")
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--prompt-seed", type=int, default=1, help="draws other prompts than the grid's (seed 0)")
    parser.add_argument("--model", default="models/shapes")
    parser.add_argument("--clip", default="models/shapes-clip")
    parser.add_argument("--record", action="store_true", help="write benchmarks/shapes/confirm.json")
    args = parser.parse_args()

    import torch

    from motionlora.evaluate.clip import load_clip
    from motionlora.models import load_t2v_model
    from motionlora.motion.adapter import load_motion_adapter

    torch.set_num_threads(2)
    config = BenchmarkConfig(concepts=(args.concept,), prompts=args.prompts, seeds=args.seeds)
    spec = reference_spec(args.concept, config)
    scorer = ClipScorer(spec, [render_clip(spec, seed=s) for s in range(args.reference_clips)], load_clip(args.clip))
    setup = ConceptSetup(Path(), spec, other_appearances(spec, args.prompts, args.prompt_seed), scorer)
    base = score_clips(setup, config, sampler(load_t2v_model(args.model), config, None))["other"]
    model = load_t2v_model(args.model)
    load_motion_adapter(model.unet, args.adapter, model.identity)
    rows = {"base model": base}
    for variant in (Variant(), Variant("all", 1.1)):
        rows[variant.label] = score_clips(setup, config, sampler(model, config, variant))["other"]
    table = {}
    print(f"| sampled | clips | {' | '.join(JUDGED)} | CLIP leakage |\n|---|---|" + "---|" * (len(JUDGED) + 1))
    for label, clips in rows.items():
        stats = {m: proportion_ci95([c[m] for c in clips]) for m in JUDGED}
        stats["clip_leakage"] = mean_ci95([a["reference_similarity"] - b["reference_similarity"] for a, b in zip(clips, base)])
        table[label] = stats
        cells = [f"{s['mean']:.2f} [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}]" for s in stats.values()]
        print(f"| {label} | {len(clips)} | " + " | ".join(cells) + " |")
    if args.record:
        out = Path("benchmarks/shapes/confirm.json")
        out.write_text(json.dumps({"adapter": args.adapter, "args": vars(args), "machine": machine(), "rows": table}, indent=1) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
