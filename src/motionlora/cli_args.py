"""Argument types the `motionlora` sub-commands share, so that one flag reads the same everywhere."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """`WxH`, or `N` for a square, -> (W, H): the frame size of `data preprocess --size` and `generate --size`."""
    try:
        width, _, height = text.lower().partition("x")
        return int(width), int(height or width)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x256 or 256, got {text!r}") from None
