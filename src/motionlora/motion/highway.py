"""AH, the appearance highway: at inference, the down blocks' skip connections start from the
*spatial* attention output (× β) instead of the temporal attention output, so appearance reaches
the decoder without passing through the motion-adapted temporal layers.

Implemented with forward hooks on the installed diffusers blocks (no copy of their code): a hook on
each selected layer's spatial transformer keeps its output, and a hook on the block replaces the
matching entries of the skip tuple the block returns. A check in the block hook fails loudly if a
diffusers upgrade changes how the cross-attention down blocks build their skips.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from typing import Iterator

import torch

from motionlora.models.backbone import CROSS_ATTENTION_DOWN_BLOCKS
from motionlora.motion.highway_settings import HIGHWAY_SCOPES, HighwaySettings


def _skip_sources(unet: torch.nn.Module) -> list[tuple[int, int | None]]:
    """For every skip tensor the UNet produces, (down block index, layer index or None).

    Order matches diffusers' `down_block_res_samples`: conv_in's output first (-1, None), then per
    down block one entry per layer and one for its downsampler (layer None).
    """
    sources: list[tuple[int, int | None]] = [(-1, None)]
    for b, block in enumerate(unet.down_blocks):
        sources.extend((b, layer) for layer in range(len(block.resnets)))
        if block.downsamplers is not None:
            sources.append((b, None))
    return sources


def highway_layers(unet: torch.nn.Module, scope: str) -> dict[int, tuple[int, ...]]:
    """Which (down block → layer indices) get the highway under `scope`.

    `all`: every layer of every cross-attention down block (CrossAttnDownBlock3D, or
    CrossAttnDownBlockMotion in AnimateDiff). `deepest` (the authors' released code): only
    the cross-attention layers whose skips feed `up_blocks[1]`.
    """
    if scope not in HIGHWAY_SCOPES:
        raise ValueError(f"unknown appearance-highway scope {scope!r}; valid scopes: {list(HIGHWAY_SCOPES)}")
    cross = {b for b, block in enumerate(unet.down_blocks) if isinstance(block, CROSS_ATTENTION_DOWN_BLOCKS)}
    if scope == "off":
        return {}
    sources = _skip_sources(unet)
    if scope == "deepest":
        end = len(sources) - len(unet.up_blocks[0].resnets)
        sources = sources[end - len(unet.up_blocks[1].resnets) : end]
    chosen: dict[int, list[int]] = {}
    for block, layer in sources:
        if block in cross and layer is not None:
            chosen.setdefault(block, []).append(layer)
    return {b: tuple(sorted(layers)) for b, layers in sorted(chosen.items())}


def _keep_spatial(store: dict[int, torch.Tensor], layer: int, module, args, output) -> None:
    store[layer] = output[0] if isinstance(output, tuple) else output.sample


def _reroute_skips(store: dict[int, torch.Tensor], block_index: int, layers: tuple[int, ...], beta: float, module, args, output):
    hidden, skips = output
    if len(store) != len(module.attentions) or len(skips) < len(module.attentions):
        raise RuntimeError(
            f"appearance highway: down_blocks.{block_index} ran {len(store)} spatial transformers and returned "
            f"{len(skips)} skips for {len(module.attentions)} layers; the installed diffusers "
            f"{type(module).__name__} no longer matches what the highway expects"
        )
    skips = list(skips)
    for layer in layers:
        if skips[layer].shape != store[layer].shape:
            raise RuntimeError(
                f"appearance highway: down_blocks.{block_index} layer {layer} skip has shape "
                f"{tuple(skips[layer].shape)} but its spatial output has {tuple(store[layer].shape)}"
            )
        skips[layer] = store[layer] * beta
    store.clear()
    return hidden, tuple(skips)


@contextmanager
def appearance_highway(unet: torch.nn.Module, highway: HighwaySettings) -> Iterator[dict[int, tuple[int, ...]]]:
    """Within the block, the selected skips equal β × the spatial-attention output.

    Yields the selected layers. Scope `off` installs nothing: the forward pass is stock diffusers.
    """
    selected = highway_layers(unet, highway.scope)
    handles = []
    for b, layers in selected.items():
        block = unet.down_blocks[b]
        store: dict[int, torch.Tensor] = {}
        for layer, attn in enumerate(block.attentions):
            handles.append(attn.register_forward_hook(partial(_keep_spatial, store, layer)))
        handles.append(block.register_forward_hook(partial(_reroute_skips, store, b, layers, highway.beta)))
    try:
        yield selected
    finally:
        for handle in handles:
            handle.remove()
