"""Train the shapes world's CLIP: image and text towers learned contrastively on single frames and
their clip captions, so CLIP-based metrics (text alignment) mean something in the shapes world.

One frame cannot show motion, so only colour, shape and background are learnable; captions keep
their motion words (of all motions, held-out ones included) so the text tower learns to ignore
them. Frames whose captions agree on colour, shape and background are all positives of each
other in the contrastive loss, rather than false negatives.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from motionlora.config import settings_class
from shapesworld.render import BACKGROUNDS, COLORS, MOTIONS, PLAIN_BACKGROUNDS, SHAPES, ClipSpec, caption, render_clip
from shapesworld.world import build_tokenizer, random_specs

log = logging.getLogger(__name__)

ZERO_SHOT_ATTRIBUTES = {"color": tuple(COLORS), "shape": SHAPES, "background": BACKGROUNDS}
RECORD = "training.json"


@settings_class
class ClipTrainConfig:
    """The `clip` section of configs/shapes.yaml."""

    seed: int = Field(0, description="frame pool, initialisation and data order")
    clips: int = Field(3000, ge=1, description="rendered clips, one random frame of each with the clip's caption (of "
                       "any motion: motion is invisible in a frame)")
    steps: int = Field(800, ge=1, description="training steps (one-cycle learning-rate schedule)")
    batch_size: int = Field(64, ge=1, description="frames per step")
    lr: float = Field(1e-3, gt=0, description="peak AdamW learning rate")
    hidden: int = Field(64, ge=1, description="hidden size of both towers")
    layers: int = Field(2, ge=1, description="layers of both towers")
    heads: int = Field(2, ge=1, description="attention heads of both towers")
    patch_size: int = Field(8, ge=1, description="vision patch size in pixels (32x32 frames in patches of 8: 16 patches)")
    projection_dim: int = Field(64, ge=1, description="size of the shared image-text embedding")
    eval_samples: int = Field(300, ge=1, description="fresh frames the zero-shot attribute accuracy is measured on")
    threads: int = Field(1, ge=1, description="torch CPU threads")


def build_clip(config: ClipTrainConfig, tokenizer, image_size: int = 32):
    """A random CLIPModel and its processor (the format `evaluate.clip.load_clip` reads)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tower = {"hidden_size": config.hidden, "intermediate_size": config.hidden * 4,
             "num_hidden_layers": config.layers, "num_attention_heads": config.heads}
    clip_config = CLIPConfig(
        text_config={**tower, "vocab_size": len(tokenizer), "max_position_embeddings": tokenizer.model_max_length,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={**tower, "image_size": image_size, "patch_size": config.patch_size},
        projection_dim=config.projection_dim,
    )
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    return CLIPModel(clip_config), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _appearance(spec: ClipSpec) -> tuple[str, str, str]:
    return spec.color, spec.shape, spec.background


def _pool(config: ClipTrainConfig, processor, seed: int, count: int):
    """One random frame per clip of `count` random specs (all motions): pixel values, token ids,
    attention masks and the specs."""
    specs = random_specs(count, seed, motions=MOTIONS)
    rng = np.random.default_rng(seed)
    frames = [render_clip(spec, seed + i)[rng.integers(spec.frames)] for i, spec in enumerate(specs)]
    inputs = processor(text=[caption(s) for s in specs], images=frames, input_data_format="channels_last",
                       padding="max_length", truncation=True, return_tensors="pt")
    return inputs, specs


def _loss(model, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, specs: list[ClipSpec]) -> torch.Tensor:
    """Symmetric cross-entropy against soft targets spread over same-appearance pairs."""
    out = model(input_ids=ids, pixel_values=pixels, attention_mask=mask)
    keys = [_appearance(s) for s in specs]
    same = torch.tensor([[a == b for b in keys] for a in keys], dtype=torch.float32)
    targets = same / same.sum(dim=1, keepdim=True)
    logits = out.logits_per_image
    return 0.5 * (torch.sum(-targets * logits.log_softmax(1), 1).mean() + torch.sum(-targets * logits.t().log_softmax(1), 1).mean())


def train_clip(config: ClipTrainConfig, out_dir: str | Path) -> dict[str, float]:
    """Train, save to `out_dir` (model + processor + training.json) and return zero-shot accuracies."""
    torch.set_num_threads(config.threads)
    started = time.monotonic()
    tokenizer = build_tokenizer()
    torch.manual_seed(config.seed)
    model, processor = build_clip(config, tokenizer)
    inputs, specs = _pool(config, processor, config.seed, config.clips)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.05)
    model.train()
    for step in range(config.steps):
        index = torch.randint(len(specs), (config.batch_size,))
        loss = _loss(model, inputs["pixel_values"][index], inputs["input_ids"][index], inputs["attention_mask"][index],
                     [specs[i] for i in index.tolist()])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == config.steps - 1:
            log.info("clip step %d/%d loss %.4f", step + 1, config.steps, loss.item())
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    seconds = time.monotonic() - started
    scores = zero_shot_accuracy(out, config.eval_samples, seed=config.seed + 1)
    record = {"recipe": asdict(config), "steps": config.steps, "wall_seconds": round(seconds, 1),
              "cpus": os.cpu_count(), "torch": torch.__version__, "zero_shot": scores}
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return scores


def _alternatives(spec: ClipSpec, attribute: str) -> list[ClipSpec]:
    """`spec` with `attribute` set to each value that makes a valid spec (the true one first)."""
    options = [spec]
    for value in ZERO_SHOT_ATTRIBUTES[attribute]:
        if value == getattr(spec, attribute):
            continue
        changed = {"color": spec.color, "background": spec.background, attribute: value}
        if COLORS[changed["color"]] != PLAIN_BACKGROUNDS.get(changed["background"]):
            options.append(replace(spec, **{attribute: value}))
    return options


def zero_shot_accuracy(clip_dir: str | Path, samples: int, seed: int) -> dict[str, float]:
    """For one frame of each of `samples` fresh clips: the fraction where the true caption beats every
    caption differing in one attribute (colour, shape or background), per attribute (chance: 1/7,
    1/3, 1/6 roughly). Read through `load_clip`, the path the metrics use."""
    from motionlora.evaluate.clip import load_clip

    scorer = load_clip(clip_dir)
    specs = random_specs(samples, seed, motions=MOTIONS)
    frames = np.stack([render_clip(spec, seed + i)[spec.frames // 2] for i, spec in enumerate(specs)])
    images = scorer.image_embeddings(frames)
    hits = {attribute: 0 for attribute in ZERO_SHOT_ATTRIBUTES}
    for index, spec in enumerate(specs):
        for attribute in ZERO_SHOT_ATTRIBUTES:
            texts = scorer.text_embeddings([caption(s) for s in _alternatives(spec, attribute)])
            hits[attribute] += int(torch.argmax(texts @ images[index]) == 0)
    return {**{name: count / samples for name, count in hits.items()}, "count": float(samples)}
