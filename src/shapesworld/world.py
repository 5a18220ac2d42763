"""The shapes world as training data: random clip specs, rendered clip tensors, and a word tokenizer.

Pretraining sees base motions only (held-out motions are what motion LoRAs must learn later), so
`random_specs` draws from `BASE_MOTIONS` unless told otherwise. The tokenizer is CLIP's BPE with
merges learned on the world's own words, so every caption word is one token: a tiny text encoder
then learns word meanings instead of spelling, and captions fit in 16 tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from motionlora.testing.tiny_model import byte_vocab
from shapesworld.render import (
    BACKGROUND_PHRASES,
    BACKGROUNDS,
    BASE_MOTIONS,
    COLORS,
    MOTION_PHRASES,
    PLAIN_BACKGROUNDS,
    SHAPES,
    ClipSpec,
    caption,
    render_clip,
)

TOKENIZER_MAX_LENGTH = 16
CAPTIONS_FILE = "captions.jsonl"


def random_specs(count: int, seed: int, motions: Sequence[str] = BASE_MOTIONS, frames: int = 8, size: int = 32) -> list[ClipSpec]:
    """`count` uniformly drawn valid specs (an object never takes its plain background's colour)."""
    rng = np.random.default_rng(seed)
    specs: list[ClipSpec] = []
    while len(specs) < count:
        color = str(rng.choice(list(COLORS)))
        background = str(rng.choice(BACKGROUNDS))
        if COLORS[color] == PLAIN_BACKGROUNDS.get(background):
            continue
        shape, motion = str(rng.choice(SHAPES)), str(rng.choice(list(motions)))
        specs.append(ClipSpec(shape, color, background, motion, frames=frames, size=size))
    return specs


def render_batch(specs: Sequence[ClipSpec], seed: int) -> torch.Tensor:
    """Clips (N, F, 3, H, W) scaled to [-1, 1]; clip i uses render seed `seed + i`."""
    clips = np.stack([render_clip(spec, seed + i) for i, spec in enumerate(specs)])
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0


def world_words() -> list[str]:
    """Every word any caption of the world (held-out motions included) can contain."""
    phrases = ["a", *COLORS, *SHAPES, *MOTION_PHRASES.values(), *BACKGROUND_PHRASES.values()]
    return sorted({word for phrase in phrases for word in phrase.split()})


def _learn_merges(words: Sequence[str]) -> list[tuple[str, str]]:
    """Byte-pair merges until every word is a single symbol. CLIP's BPE applies merges by rank,
    which reproduces the order they were learned in, so each word tokenizes to one token."""
    pieces = [list(word[:-1]) + [word[-1] + "</w>"] for word in words]
    merges: list[tuple[str, str]] = []
    while any(len(p) > 1 for p in pieces):
        pairs = Counter((p[i], p[i + 1]) for p in pieces for i in range(len(p) - 1))
        best = max(pairs, key=lambda pair: (pairs[pair], pair))
        merges.append(best)
        for index, p in enumerate(pieces):
            merged, i = [], 0
            while i < len(p):
                if i + 1 < len(p) and (p[i], p[i + 1]) == best:
                    merged.append(p[i] + p[i + 1])
                    i += 2
                else:
                    merged.append(p[i])
                    i += 1
            pieces[index] = merged
    return merges


def build_tokenizer(max_length: int = TOKENIZER_MAX_LENGTH):
    """An offline CLIPTokenizer: byte-level fallback for any text, one token per world word."""
    from transformers import CLIPTokenizer

    vocab = byte_vocab()
    merges = _learn_merges(world_words())
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = max_length
    return tokenizer


def write_clips(spec: ClipSpec, count: int, out: Path, seed: int = 0, fps: float = 8.0) -> list[np.ndarray]:
    """Render `count` clips of `spec` (clip i from seed `seed + i`) as `clip_NNN.mp4` plus a
    captions.jsonl — a folder `motionlora data ingest` takes as is; returns the rendered frames."""
    from motionlora.data.video import write_video

    out.mkdir(parents=True, exist_ok=True)
    clips, lines = [], []
    for index in range(count):
        name = f"clip_{index:03d}.mp4"
        frames = render_clip(spec, seed=seed + index)
        write_video(out / name, frames, fps=fps)
        lines.append(json.dumps({"file": name, "caption": caption(spec)}))
        clips.append(frames)
    (out / CAPTIONS_FILE).write_text("\n".join(lines) + "\n")
    return clips
