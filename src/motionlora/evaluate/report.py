"""A self-contained HTML evaluation report, read from the top: a sentence saying what was
evaluated, whether the motion was learned (the motion gain with its 95% CI, and the gate's verdict
when known), the clips — references, adapter and base model side by side as animated gifs, small
clips upscaled with nearest-neighbour so they are large enough to see — then the metrics table
and the settings. Gifs are embedded as data URIs, so the file can be mailed or logged as one artifact.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from motionlora.data.video import encode_gif
from motionlora.evaluate.run import DIRECTION, EvaluationResult, video_key

DISPLAY_PX = 128  # clips smaller than this are upscaled (nearest-neighbour) before encoding

EXPLANATIONS = {
    "motion_gain": "concept motion fidelity of the adapter clip minus the base model's, paired by prompt and seed; "
                   "motion learned when the 95% CI is above 0",
    "text_alignment_delta": "CLIP score of the adapter clip minus the base model's, paired by prompt and seed (×100)",
    "concept_motion_fidelity": "does the adapter clip move like the reference clips (any appearance, start, phase), -1..1",
    "base_concept_motion_fidelity": "the same for the base model on the same prompt and seed",
    "motion_fidelity": "tracklet correlation between reference and adapter clips (Yatim et al.), -1..1",
    "base_motion_fidelity": "the same for the base model on the same prompt and seed",
    "text_alignment": "CLIP score of the adapter clip's frames against its prompt (×100)",
    "base_text_alignment": "the same for the base model",
    "temporal_consistency": "CLIP similarity of consecutive adapter frames (×100)",
    "appearance_leakage": "CLIP similarity to the references, minus the base model's (×100); lower is better",
    "appearance_diversity": "1 − mean CLIP similarity between the adapter clips of different prompts",
    "judge_motion_correct": "shapes judge: the adapter clip's motion is the one the prompt names",
    "judge_attributes_correct": "shapes judge: colour, shape and background of the adapter clip are as asked",
    "judge_leak_color": "shapes judge: the adapter clip has the references' colour although the prompt asked for another",
    "judge_leak_shape": "shapes judge: the references' shape although the prompt asked for another",
    "judge_leak_background": "shapes judge: the references' background although the prompt asked for another",
}
for _name in list(EXPLANATIONS):
    if _name.startswith("judge_"):
        EXPLANATIONS["base_" + _name] = "the same for the base model's clip"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { image-rendering: pixelated; margin: 2px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 1.2em; padding: 0.6em 1em; border-radius: 4px; display: inline-block; }
.yes { background: #e3f6e3; } .no { background: #fbe3e3; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def upscale(frames: np.ndarray, target: int = DISPLAY_PX) -> np.ndarray:
    """Frames repeated pixel by pixel (nearest-neighbour) so the longer side is at least `target`."""
    factor = max(1, -(-target // max(frames.shape[1:3])))
    return frames.repeat(factor, axis=1).repeat(factor, axis=2) if factor > 1 else frames


def _gif_tag(frames: np.ndarray, alt: str, fps: float) -> str:
    data = base64.b64encode(encode_gif(upscale(np.asarray(frames)), fps)).decode()
    return f'<img src="data:image/gif;base64,{data}" alt="{html.escape(alt)}" title="{html.escape(alt)}">'


def title_sentence(concept: str, preset: str, highway: str, beta: float) -> str:
    """The report's header, e.g. "Motion adapter for zigzag (preset tap-k, appearance highway all,
    β 1.1) against the base model"."""
    return f"Motion adapter for {concept} (preset {preset}, appearance highway {highway}, β {beta:g}) against the base model"


def _summary(result: EvaluationResult, verdict: str | None) -> str:
    gain = result.aggregate.get("motion_gain")
    parts = []
    if gain is None:
        parts.append("<p>No motion gain was measured.</p>")
    else:
        learned = gain["n"] > 1 and gain["ci95_low"] > 0
        why = (f"motion gain {gain['mean']:+.3f}, 95% CI [{gain['ci95_low']:+.3f}, {gain['ci95_high']:+.3f}] over "
               f"{gain['n']} prompt × seed pairs")
        if gain["n"] < 2:
            why += "; one pair gives no interval"
        parts.append(f"<p class='verdict {'yes' if learned else 'no'}'>motion learned: <b>{'yes' if learned else 'no'}</b> "
                     f"({html.escape(why)})</p>")
    for name, label in (("judge_motion_correct", "shapes judge: motion correct"),):
        if name in result.aggregate and f"base_{name}" in result.aggregate:
            mine, theirs = result.aggregate[name]["mean"], result.aggregate[f"base_{name}"]["mean"]
            parts.append(f"<p>{label}: adapter {mine:.2f}, base model {theirs:.2f}</p>")
    if verdict:
        parts.append(f"<p>Promotion gate: <b>{html.escape(verdict)}</b></p>")
    else:
        parts.append("<p>Promotion gate: not known yet (the gate runs when the adapter is registered).</p>")
    return "".join(parts)


def _metrics_table(result: EvaluationResult) -> str:
    rows = []
    for name, stats in result.aggregate.items():
        better = "higher" if DIRECTION.get(name, True) else "lower"
        rows.append(
            f"<tr><td>{name}</td><td class=num>{stats['mean']:.3f}</td>"
            f"<td class=num>[{stats['ci95_low']:.3f}, {stats['ci95_high']:.3f}]</td><td class=num>{stats['n']}</td>"
            f"<td>{better}</td><td>{html.escape(EXPLANATIONS.get(name, ''))}</td></tr>"
        )
    head = "<tr><th>metric</th><th>mean</th><th>95% CI</th><th>n</th><th>better</th><th>what it measures</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _score_line(row: dict, prefix: str) -> str:
    keys = ("concept_motion_fidelity", "text_alignment", "judge_motion_correct")
    values = [f"{k}={row[prefix + k]:.3f}" for k in keys if row.get(prefix + k) is not None]
    if not prefix and row.get("appearance_leakage") is not None:
        values.append(f"appearance_leakage={row['appearance_leakage']:.3f}")
    return ", ".join(values)


def _videos_table(result: EvaluationResult, fps: float) -> str:
    rows = []
    for row in result.per_video:
        p, seed = row["prompt_index"], row["seed"]
        tuned = result.videos[video_key("adapter", p, seed)]
        base = result.videos[video_key("base", p, seed)]
        label = f"{row['prompt']} (seed {seed})"
        rows.append(
            f"<tr><td>{html.escape(row['prompt'])}<br>seed {seed}</td>"
            f"<td>{_gif_tag(tuned, 'adapter: ' + label, fps)}<br><small>{_score_line(row, '')}</small></td>"
            f"<td>{_gif_tag(base, 'base: ' + label, fps)}<br><small>{_score_line(row, 'base_')}</small></td></tr>"
        )
    head = "<tr><th>prompt</th><th>with the motion adapter</th><th>base model, same seed</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(result: EvaluationResult, references: list[np.ndarray], out_path: str | Path, title: str,
                 fps: float = 8.0, verdict: str | None = None) -> Path:
    """Write the report to `out_path` (one HTML file, no external resources); `verdict`: the gate's
    decision when it is known."""
    reference_tags = "".join(_gif_tag(clip, f"reference clip {i}", fps) for i, clip in enumerate(references))
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f"{_summary(result, verdict)}"
        f"<h2>Reference clips</h2><p>{reference_tags}</p>"
        f"<h2>Generated clips</h2>{_videos_table(result, fps)}"
        f"<h2>Metrics</h2>{_metrics_table(result)}"
        f"<h2>Settings</h2><pre>{html.escape(json.dumps(result.settings, indent=2, sort_keys=True))}</pre>"
    )
    page = f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
