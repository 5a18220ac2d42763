"""A tiny random CLIP with its processor, written offline: every CLIP metric runs through
`evaluate.clip.load_clip` in milliseconds, on the same path as a real evaluation."""

from __future__ import annotations

from pathlib import Path

import torch

from motionlora.evaluate.clip import TEXT_MAX_LENGTH
from motionlora.testing.tiny_model import byte_vocab


def build_tiny_clip(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random CLIP (32x32 images, 8x8 patches) with its processor to `out_dir`, offline.

    Its scores mean nothing; it lets tests run every CLIP metric through `load_clip` in
    milliseconds. The tokenizer is byte-level BPE with no merges (see `testing.tiny_model`).
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = CLIPTokenizer(vocab=byte_vocab(), merges=[])
    tokenizer.model_max_length = TEXT_MAX_LENGTH
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": TEXT_MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIPModel(config)
    model.save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out
