"""A self-contained HTML evaluation report: reference and generated clips side by side (gifs
embedded as data URIs, so the file can be mailed or logged as one artifact), the metrics table with
95% confidence intervals, and the settings.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from motionlora.data.video import encode_gif
from motionlora.evaluate.run import HIGHER_IS_BETTER, EvaluationResult, video_key

EXPLANATIONS = {
    "motion_fidelity": "tracklet correlation between reference and adapter clips (Yatim et al.), -1..1",
    "base_motion_fidelity": "the same for the base model on the same prompt and seed",
    "text_alignment": "CLIP score of the adapter clip's frames against its prompt (×100)",
    "base_text_alignment": "the same for the base model",
    "temporal_consistency": "CLIP similarity of consecutive adapter frames (×100)",
    "appearance_leakage": "CLIP similarity to the references, minus the base model's (×100); lower is better",
    "appearance_diversity": "1 − mean CLIP similarity between the adapter clips of different prompts",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { image-rendering: pixelated; width: 128px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def _gif_tag(frames: np.ndarray, alt: str, fps: float) -> str:
    data = base64.b64encode(encode_gif(frames, fps)).decode()
    return f'<img src="data:image/gif;base64,{data}" alt="{html.escape(alt)}">'


def _metrics_table(result: EvaluationResult) -> str:
    rows = []
    for name, stats in result.aggregate.items():
        better = "higher" if HIGHER_IS_BETTER.get(name, True) else "lower"
        rows.append(
            f"<tr><td>{name}</td><td class=num>{stats['mean']:.3f}</td>"
            f"<td class=num>[{stats['ci95_low']:.3f}, {stats['ci95_high']:.3f}]</td><td class=num>{stats['n']}</td>"
            f"<td>{better}</td><td>{html.escape(EXPLANATIONS.get(name, ''))}</td></tr>"
        )
    head = "<tr><th>metric</th><th>mean</th><th>95% CI</th><th>n</th><th>better</th><th>what it measures</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _videos_table(result: EvaluationResult, fps: float) -> str:
    rows = []
    for row in result.per_video:
        p, seed = row["prompt_index"], row["seed"]
        tuned = result.videos[video_key("adapter", p, seed)]
        base = result.videos[video_key("base", p, seed)]
        scores = ", ".join(f"{k}={row[k]:.3f}" for k in ("motion_fidelity", "text_alignment", "appearance_leakage"))
        label = f"{row['prompt']} (seed {seed})"
        rows.append(
            f"<tr><td>{html.escape(row['prompt'])}<br>seed {seed}<br><small>{scores}</small></td>"
            f"<td>{_gif_tag(tuned, 'adapter: ' + label, fps)}</td>"
            f"<td>{_gif_tag(base, 'base: ' + label, fps)}</td></tr>"
        )
    head = "<tr><th>prompt</th><th>with the motion adapter</th><th>base model, same seed</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(result: EvaluationResult, references: list[np.ndarray], out_path: str | Path, title: str, fps: float = 8.0) -> Path:
    """Write the report to `out_path` (one HTML file, no external resources)."""
    reference_tags = "".join(_gif_tag(clip, f"reference clip {i}", fps) for i, clip in enumerate(references))
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f"<h2>Reference clips</h2><p>{reference_tags}</p>"
        f"<h2>Metrics</h2>{_metrics_table(result)}"
        f"<h2>Generated clips</h2>{_videos_table(result, fps)}"
        f"<h2>Settings</h2><pre>{html.escape(json.dumps(result.settings, indent=2, sort_keys=True))}</pre>"
    )
    page = f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
