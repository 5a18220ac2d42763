"""Load a CLIP model for the evaluation metrics.

The model is a setting: a local folder (the tiny test CLIP of `motionlora.testing`, the shapes world's own CLIP) or a hub
id such as `openai/clip-vit-base-patch32`. Either way it is read with `from_pretrained`, so tests
exercise the same path as real evaluations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionlora.data.video import check_frames

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
# Real CLIP's text context; the tiny model keeps it so prompts are cut at the same token count.
TEXT_MAX_LENGTH = 77


@dataclass
class ClipScorer:
    """A CLIP model and its processor; embeddings come back L2-normalised, float32, on the CPU."""

    model: torch.nn.Module
    processor: object
    device: torch.device
    batch_size: int = 32

    @torch.no_grad()
    def image_embeddings(self, frames: np.ndarray) -> torch.Tensor:
        """Embeddings (F, D) of uint8 frames (F, H, W, 3), `batch_size` frames per forward pass."""
        frames = check_frames(frames)
        chunks = []
        for start in range(0, len(frames), self.batch_size):
            batch = list(frames[start : start + self.batch_size])
            inputs = self.processor(images=batch, input_data_format="channels_last", return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, self.model.dtype)
            chunks.append(self._normalised(self.model.get_image_features(pixel_values=pixels)))
        return torch.cat(chunks)

    @torch.no_grad()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        """Embeddings (N, D) of `prompts` (a single string counts as one prompt)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        tokens = self.processor(text=list(prompts), padding=True, truncation=True, return_tensors="pt")
        tokens = {key: value.to(self.device) for key, value in tokens.items()}
        return self._normalised(self.model.get_text_features(**tokens))

    @staticmethod
    def _normalised(output) -> torch.Tensor:
        return torch.nn.functional.normalize(output.pooler_output.float(), dim=-1).cpu()


def load_clip(name_or_dir: str | os.PathLike = DEFAULT_CLIP, device: str | torch.device = "cpu") -> ClipScorer:
    """Load a CLIP model and processor from a local folder or a hub id, in eval mode on `device`."""
    from transformers import CLIPModel, CLIPProcessor

    source = _resolve_source(name_or_dir)
    try:
        model = CLIPModel.from_pretrained(source)
        processor = CLIPProcessor.from_pretrained(source)
    except OSError as err:
        raise FileNotFoundError(_load_error(str(name_or_dir), source, err)) from err
    device = torch.device(device)
    return ClipScorer(model=model.to(device).eval(), processor=processor, device=device)


def _load_error(name: str, source: str, err: OSError) -> str:
    if Path(source).is_dir():
        return f"folder {name!r} holds no loadable CLIP model and processor: {err}"
    offline = os.environ.get("HF_HUB_OFFLINE", "0")
    return (
        f"CLIP model {name!r} is not a local folder and could not be loaded from the hub "
        f"(HF_HUB_OFFLINE={offline}): {err}"
    )


def _resolve_source(name_or_dir: str | os.PathLike) -> str:
    """A local folder, or a hub id; a missing path that cannot be a hub id is reported as such."""
    text = str(name_or_dir)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1 or "\\" in text:
        raise FileNotFoundError(f"CLIP model folder {text!r} does not exist")
    return text
