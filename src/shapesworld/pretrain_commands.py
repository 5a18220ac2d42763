"""`motionlora shapes pretrain | evaluate-base | train-clip | benchmark`: build and measure the shapes world's models.

`register(sub)` adds these to the `shapes` command group's sub-parsers (see `shapes/commands.py`).
"""

from __future__ import annotations

import argparse
import logging

from motionlora.config import load_config

DEFAULT_RECIPE = "configs/shapes.yaml"


def _log_progress() -> None:
    """Training runs for minutes to hours: show their progress lines (a no-op if logging is set up)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def _pretrain(args: argparse.Namespace) -> int:
    from shapesworld.pretrain import PretrainConfig, pretrain

    config = load_config(PretrainConfig, args.config, "pretrain", args.set)
    _log_progress()
    out = pretrain(config, args.work, args.out)
    print(f"wrote the shapes T2V model to {out}")
    return 0


def _evaluate_base(args: argparse.Namespace) -> int:
    from collections import Counter
    from dataclasses import replace

    from shapesworld.quality import BASE_SAMPLING, QUALITY_BAR, confusion_rows, evaluate_base, meets_bar, record_scores

    pairs: Counter = Counter()
    sampling = replace(BASE_SAMPLING, guidance_scale=args.guidance)
    scores = evaluate_base(args.model, args.samples, args.seed, sampling, motion_confusion=pairs, device=args.device)
    passed = meets_bar(scores)
    print(f"judged {int(scores['count'])} samples of base-motion prompts from {args.model}")
    for name in ("color", "background", "motion", "shape", "all"):
        bar = f"  (bar {QUALITY_BAR[name]:.2f}: {'met' if passed[name] else 'NOT met'})" if name in QUALITY_BAR else ""
        print(f"{name:>10}: {scores[name]:.3f}{bar}")
    confusion = confusion_rows(pairs)
    print("motion asked (rows) vs read (columns):")
    print(" " * 10 + "".join(f"{read:>8}" for read in next(iter(confusion.values()))))
    for asked, row in confusion.items():
        print(f"{asked:>10}" + "".join(f"{count:>8}" for count in row.values()))
    if args.record:
        record_scores(args.model, scores, args.samples, args.seed, confusion, sampling)
    return 0


def _train_clip(args: argparse.Namespace) -> int:
    from shapesworld.clip_train import ClipTrainConfig, train_clip

    config = load_config(ClipTrainConfig, args.config, "clip", args.set)
    _log_progress()
    scores = train_clip(config, args.out)
    print(f"wrote the shapes CLIP to {args.out}; zero-shot accuracy over {int(scores['count'])} frames: "
          + ", ".join(f"{name} {scores[name]:.3f}" for name in ("color", "shape", "background")))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from shapesworld.benchmark import BenchmarkConfig, run_benchmark
    from shapesworld.benchmark_report import markdown

    config = load_config(BenchmarkConfig, args.config, "benchmark_quick" if args.quick else "benchmark", args.set)
    _log_progress()
    results = run_benchmark(args.model, args.clip, args.out, config, report=print)
    print(f"wrote results.json, table.md and pareto.png to {args.out}")
    print(markdown(results), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands to the `shapes` group's sub-parsers."""
    pretrain = sub.add_parser("pretrain", help="train the shapes-world T2V model from scratch (resumable)")
    pretrain.add_argument("--config", default=DEFAULT_RECIPE, help="recipe YAML (section `pretrain`)")
    pretrain.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    pretrain.add_argument("--work", required=True, help="folder for the VAE, checkpoints and logs; resumes from it")
    pretrain.add_argument("--out", default=None, help="where the diffusers-format model goes (default WORK/model)")
    pretrain.set_defaults(func=_pretrain)

    evaluate = sub.add_parser("evaluate-base", help="judge a shapes T2V model on random base-motion prompts")
    evaluate.add_argument("--model", default="models/shapes", help="diffusers-format model folder")
    evaluate.add_argument("--samples", type=int, default=96, help="number of generated clips to judge")
    evaluate.add_argument("--seed", type=int, default=12345, help="seed of the random prompts")
    evaluate.add_argument("--guidance", type=float, default=1.0,
                          help="classifier-free guidance scale (>1 needs a model trained with caption_dropout)")
    evaluate.add_argument("--device", default="cpu", help="torch device to sample on (cpu, cuda)")
    evaluate.add_argument("--record", action="store_true", help="also store the numbers in MODEL/training.json")
    evaluate.set_defaults(func=_evaluate_base)

    clip = sub.add_parser("train-clip", help="train the shapes-world CLIP and measure its zero-shot accuracy")
    clip.add_argument("--config", default=DEFAULT_RECIPE, help="recipe YAML (section `clip`)")
    clip.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    clip.add_argument("--out", default="models/shapes-clip", help="output folder (CLIPModel + CLIPProcessor)")
    clip.set_defaults(func=_train_clip)

    bench = sub.add_parser("benchmark", help="find where motion LoRAs leak appearance and each recipe's motion-vs-leakage front "
                                             "(resumable: finished cells in --out are kept)")
    bench.add_argument("--config", default=DEFAULT_RECIPE, help="recipe YAML (section `benchmark`, or `benchmark_quick` with --quick)")
    bench.add_argument("--quick", action="store_true", help="the smaller grid of section `benchmark_quick`")
    bench.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    bench.add_argument("--model", default="models/shapes", help="shapes T2V model folder")
    bench.add_argument("--clip", default="models/shapes-clip", help="shapes CLIP folder (text-alignment score)")
    bench.add_argument("--out", default="benchmarks/shapes", help="where results.json, table.md, pareto.png, cells/ and work/ go")
    bench.set_defaults(func=_benchmark)

