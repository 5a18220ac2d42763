"""The shapes benchmark's cells → statistics, Pareto front, the recommended recipe, table and plot.

Judge readings (motion correct, leak per attribute) are yes/no, so they get Wilson 95% intervals;
`clip_leakage` is the paired difference of CLIP similarity to the reference frames (× 100) between
the adapter's clip and the base model's clip of the same prompt and seed (DisMo's "driving
similarity", minus what the prompt alone explains), with a Student-t interval.

A point is on the Pareto front when no other point has both more motion correct and less leakage
(judge, any attribute), comparing means. The recommendation is the front's point with the most
motion correct among those whose leakage is not clearly above the base model's (their Wilson
intervals overlap); ties go to fewer steps, then the lower learning rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from motionlora.evaluate.run import mean_ci95, proportion_ci95
from shapesworld.benchmark import BASE_MODEL, RENDERED, BenchmarkConfig, TrainingRun, cell_path, training_runs

JUDGED = ("motion_correct", "attributes_correct", "leak_color", "leak_shape", "leak_background", "leak_any")
MEASURED = ("concept_fidelity", "trajectory_error", "clip_score")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def statistics(other: Sequence[dict[str, float]], own: Sequence[dict[str, float]], base_other: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Means and 95% intervals of one row's clips (pooled over concepts), paired with the base model's."""
    if len(other) != len(base_other):
        raise ValueError(f"{len(other)} clips cannot be paired with the base model's {len(base_other)}")
    row: dict[str, Any] = {"clips": len(other)}
    row.update({metric: proportion_ci95([clip[metric] for clip in other]) for metric in JUDGED})
    row.update({metric: mean_ci95([clip[metric] for clip in other]) for metric in MEASURED})
    row["clip_leakage"] = mean_ci95([a["reference_similarity"] - b["reference_similarity"] for a, b in zip(other, base_other)])
    row["own_motion_correct"] = proportion_ci95([clip["motion_correct"] for clip in own])
    return row


def _pooled(cells: Sequence[dict[str, Any]], label: str) -> tuple[list, list]:
    other, own = [], []
    for cell in cells:
        other.extend(cell[label]["other"])
        own.extend(cell[label]["own"])
    return other, own


def summarize(out: Path, config: BenchmarkConfig) -> dict[str, Any]:
    """`leakage` (presets[0] per regime and step count, with each regime's base model), `sweep`
    (every cell of the sweep regime, Pareto flags) and `recommendation`."""
    regimes = list(dict.fromkeys((*config.regimes, config.sweep_regime)))
    baselines = {regime: [_read(out / "cells" / regime / concept / "baseline.json") for concept in config.concepts] for regime in regimes}
    base_other = {regime: _pooled(cells, BASE_MODEL)[0] for regime, cells in baselines.items()}

    def row(paired_with: str, cells: Sequence[dict[str, Any]], label: str, **keys: Any) -> dict[str, Any]:
        other, own = _pooled(cells, label)
        return {**keys, **statistics(other, own, base_other[paired_with])}

    runs: dict[tuple[str, str, float], list[TrainingRun]] = {}
    for run in training_runs(config):
        runs.setdefault((run.regime, run.preset, run.learning_rate), []).append(run)
    first = config.variants()[0].label
    leakage = []
    for regime in regimes:
        leakage.append(row(regime, baselines[regime], BASE_MODEL, regime=regime, recipe=BASE_MODEL, steps=0))
        for steps in config.steps:
            cells = [_read(cell_path(out, run, steps))["variants"] for run in runs[regime, config.presets[0], float(config.learning_rates[0])]]
            leakage.append(row(regime, cells, first, regime=regime, recipe=f"{config.presets[0]} lr {config.learning_rates[0]:g}", steps=steps))
    sweep_regime = config.sweep_regime
    sweep = [row(sweep_regime, baselines[sweep_regime], label, preset=label, learning_rate=None, steps=0, variant="-")
             for label in (RENDERED, BASE_MODEL)]
    for (regime, preset, lr), group in runs.items():
        if regime != sweep_regime:
            continue
        for steps in config.steps:
            cells = [_read(cell_path(out, run, steps))["variants"] for run in group]
            sweep.extend(row(regime, cells, variant.label, preset=preset, learning_rate=lr, steps=steps, variant=variant.label)
                         for variant in config.variants())
    trained = [r for r in sweep if r["learning_rate"] is not None]
    mark_pareto(trained)
    return {"leakage": leakage, "sweep": sweep, "recommendation": recommend(trained, sweep[1])}


def mark_pareto(rows: list[dict[str, Any]]) -> None:
    """Set `pareto` on each row: no other row has more motion correct and less leakage (means)."""
    for row in rows:
        motion, leak = row["motion_correct"]["mean"], row["leak_any"]["mean"]
        row["pareto"] = not any(
            o["motion_correct"]["mean"] >= motion and o["leak_any"]["mean"] <= leak
            and (o["motion_correct"]["mean"] > motion or o["leak_any"]["mean"] < leak)
            for o in rows
        )


def recommend(rows: Sequence[dict[str, Any]], base: dict[str, Any]) -> dict[str, Any] | None:
    """The front's point with the most motion correct whose leakage is not clearly above the base model's."""
    clean = [r for r in rows if r["pareto"] and r["leak_any"]["ci95_low"] <= base["leak_any"]["ci95_high"]]
    if not clean:
        return None
    best = max(clean, key=lambda r: (r["motion_correct"]["mean"], -r["steps"], -r["learning_rate"]))
    return {key: best[key] for key in ("preset", "learning_rate", "steps", "variant")}


def _ci(stat: dict[str, float], digits: int = 2) -> str:
    return f"{stat['mean']:.{digits}f} [{stat['ci95_low']:.{digits}f}, {stat['ci95_high']:.{digits}f}]"


def leakage_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| regime | recipe | steps | clips | motion correct ↑ | motion on ref. prompt ↑ | leak colour ↓ | leak shape ↓ "
             "| leak background ↓ | leak any ↓ | CLIP leakage ↓ |", "|" + "---|" * 11]
    for r in rows:
        values = [_ci(r[m]) for m in ("motion_correct", "own_motion_correct", "leak_color", "leak_shape", "leak_background", "leak_any")]
        lines.append(f"| {r['regime']} | {r['recipe']} | {r['steps'] or '-'} | {r['clips']} | " + " | ".join(values)
                     + f" | {_ci(r['clip_leakage'], 1)} |")
    return "\n".join(lines) + "\n"


def sweep_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| preset | lr | steps | sampling | front | motion correct ↑ | motion on ref. prompt ↑ | concept fidelity ↑ "
             "| leak any ↓ | CLIP leakage ↓ | attributes correct ↑ | shapes-CLIP ↑ |", "|" + "---|" * 12]
    for r in rows:
        lr = f"{r['learning_rate']:g}" if r["learning_rate"] is not None else "-"
        front = "★" if r.get("pareto") else ""
        lines.append(f"| {r['preset']} | {lr} | {r['steps'] or '-'} | {r['variant']} | {front} | {_ci(r['motion_correct'])} "
                     f"| {_ci(r['own_motion_correct'])} | {_ci(r['concept_fidelity'])} | {_ci(r['leak_any'])} "
                     f"| {_ci(r['clip_leakage'], 1)} | {_ci(r['attributes_correct'])} | {_ci(r['clip_score'], 1)} |")
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    config, machine = results["config"], results["machine"]
    chosen = results["recommendation"]
    pick = (f"**{chosen['preset']}**, lr {chosen['learning_rate']:g}, {chosen['steps']} steps, sampled with {chosen['variant']}"
            if chosen else "none: every point on the front leaks clearly more than the base model")
    return (f"Machine: {machine['processor']}, {machine['cpus']} CPUs, GPU {machine['gpu'] or 'none'}, torch {machine['torch']}; "
            f"{results['started']} → {results['finished']}.\n\n"
            f"Concepts {', '.join(config['concepts'])}; {config['prompts']} other-appearance prompts × {config['seeds']} seeds "
            f"per concept; batch {config['batch_size']}, rank {config['rank']}, {config['sampling_steps']} DDIM steps.\n\n"
            f"## Where leakage exists\n\n{leakage_table(results['leakage'])}\n"
            f"## Sweep in regime {config['sweep_regime']} (★ = Pareto front: motion correct ↑ vs leak any ↓)\n\n"
            f"{sweep_table(results['sweep'])}\nRecommended: {pick}.\n")


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Leakage (judge, any attribute) against motion correct for every sweep cell, with 95% CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 6))
    colours = {}
    for r in rows:
        x, y = r["leak_any"], r["motion_correct"]
        colour = colours.setdefault(r["preset"], f"C{len(colours)}")
        axis.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["ci95_low"]], [x["ci95_high"] - x["mean"]]],
                      yerr=[[y["mean"] - y["ci95_low"]], [y["ci95_high"] - y["mean"]]], fmt="*" if r.get("pareto") else "o",
                      color=colour, markersize=10 if r.get("pareto") else 4, capsize=2, alpha=0.7, label=r["preset"])
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["leak_any"]["mean"])
    axis.plot([r["leak_any"]["mean"] for r in front], [r["motion_correct"]["mean"] for r in front], "k--", linewidth=1, label="Pareto front")
    axis.set_xlabel("leakage: the judge reads the references' colour, shape or background ↓")
    axis.set_ylabel("motion correct on other appearances ↑")
    axis.set_title("Shapes world: motion vs leakage per recipe (95% CI; ★ on the front)")
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "table.md").write_text(markdown(results))
    plot(results["sweep"], out / "pareto.png")
