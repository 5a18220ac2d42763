"""Write a randomly initialised, diffusers-format T2V model to disk, entirely offline.

Tests and smoke runs load it through the same `from_pretrained` path as a real model. Its shape
mirrors ZeroScope's (cross-attention down blocks followed by a plain one, temporal transformers
everywhere) at a size that runs a forward pass in milliseconds on a CPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

# CLIP's context length, so prompts are cut where a real T2V model would cut them.
TOKENIZER_MAX_LENGTH = 77


@dataclass(frozen=True)
class TinyModelSpec:
    """Sizes of the tiny model; the defaults are what the tests use.

    `backbone`: `unet3d` (UNet3DConditionModel, ZeroScope's shape) or `animatediff` (UNetMotionModel).
    """

    backbone: str = "unet3d"
    unet_channels: tuple[int, ...] = (16, 32, 32)
    layers_per_block: int = 1
    attention_heads: int = 2
    text_hidden: int = 32
    text_layers: int = 2
    vae_channels: tuple[int, ...] = (16, 32)
    latent_channels: int = 4
    sample_size: int = 32
    norm_groups: int = 8


def byte_vocab() -> dict[str, int]:
    """CLIP's byte-level alphabet, each symbol alone and word-final, plus the special tokens.

    With no merges every word is spelled out in bytes: tiny, but a real BPE tokenizer.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codepoints = printable + [256 + i for i in range(256 - len(printable))]
    symbols = [chr(c) for c in codepoints]
    tokens = ["<|startoftext|>", "<|endoftext|>"] + symbols + [s + "</w>" for s in symbols]
    return {tok: i for i, tok in enumerate(tokens)}


def _build_tokenizer(max_length: int):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer(vocab=byte_vocab(), merges=[])
    tokenizer.model_max_length = max_length
    return tokenizer


def _unet(spec: TinyModelSpec, vae_scale: int):
    import diffusers

    levels = len(spec.unet_channels)
    if spec.backbone == "animatediff":
        return diffusers.UNetMotionModel(
            sample_size=spec.sample_size // vae_scale,
            in_channels=spec.latent_channels,
            out_channels=spec.latent_channels,
            down_block_types=("CrossAttnDownBlockMotion",) * (levels - 1) + ("DownBlockMotion",),
            up_block_types=("UpBlockMotion",) + ("CrossAttnUpBlockMotion",) * (levels - 1),
            block_out_channels=spec.unet_channels,
            layers_per_block=spec.layers_per_block,
            norm_num_groups=spec.norm_groups,
            cross_attention_dim=spec.text_hidden,
            num_attention_heads=spec.attention_heads,
            motion_num_attention_heads=spec.attention_heads,
            motion_max_seq_length=32,
        )
    if spec.backbone != "unet3d":
        raise ValueError(f"unknown backbone {spec.backbone!r}; choose unet3d or animatediff")
    return diffusers.UNet3DConditionModel(
        sample_size=spec.sample_size // vae_scale,
        in_channels=spec.latent_channels,
        out_channels=spec.latent_channels,
        down_block_types=("CrossAttnDownBlock3D",) * (levels - 1) + ("DownBlock3D",),
        up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (levels - 1),
        block_out_channels=spec.unet_channels,
        layers_per_block=spec.layers_per_block,
        norm_num_groups=spec.norm_groups,
        cross_attention_dim=spec.text_hidden,
        attention_head_dim=spec.attention_heads,
    )


def _vae(spec: TinyModelSpec):
    import diffusers

    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(spec.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(spec.vae_channels),
        block_out_channels=spec.vae_channels,
        latent_channels=spec.latent_channels,
        norm_num_groups=spec.norm_groups,
        sample_size=spec.sample_size,
    )


def build_clip_text_encoder(tokenizer, hidden: int, layers: int, heads: int):
    """A randomly initialised CLIPTextModel sized for `tokenizer` (its vocabulary and max length)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0, spec: TinyModelSpec = TinyModelSpec()) -> Path:
    """Write a tiny random T2V model (UNet3D, VAE, CLIP text encoder, tokenizer, DDIM) to `out_dir`.

    The weights depend only on `seed` and `spec`; the caller's global RNG state is left alone.
    """
    import diffusers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(TOKENIZER_MAX_LENGTH)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = _unet(spec, 2 ** (len(spec.vae_channels) - 1))
        vae = _vae(spec)
        text_encoder = build_clip_text_encoder(tokenizer, spec.text_hidden, spec.text_layers, heads=2)
    unet.save_pretrained(out / "unet")
    vae.save_pretrained(out / "vae")
    text_encoder.save_pretrained(out / "text_encoder")
    tokenizer.save_pretrained(out / "tokenizer")
    diffusers.DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=False
    ).save_pretrained(out / "scheduler")
    index = {
        "_class_name": "TextToVideoSDPipeline",
        "_diffusers_version": diffusers.__version__,
        "unet": ["diffusers", type(unet).__name__],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    }
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "motionlora_tiny.json").write_text(json.dumps({"seed": seed, **asdict(spec)}, indent=2) + "\n")
    return out
