"""What the frozen parts around the UNet contribute: the VAE's spatial scale and the prompt embeddings.

Sampling encodes prompts on the fly, preprocessing encodes captions once for training, and the
shapes world tokenizes captions for a text encoder it trains: all three must pad and truncate
alike, or training and sampling would condition the UNet on different sequences.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


def vae_scale_factor(vae: torch.nn.Module) -> int:
    """How many pixels one latent covers along each side: 2 per downsampling stage of the VAE."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def tokenize_prompts(tokenizer: Any, prompts: Sequence[str]) -> torch.Tensor:
    """Token ids (N, L), padded to the tokenizer's `model_max_length` like diffusers' pipelines."""
    return tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


@torch.no_grad()
def encode_prompts(tokenizer: Any, text_encoder: torch.nn.Module, prompts: Sequence[str]) -> torch.Tensor:
    """Text embeddings (N, L, D) on the text encoder's device and in its dtype."""
    device = next(text_encoder.parameters()).device
    return text_encoder(tokenize_prompts(tokenizer, prompts).to(device))[0]
