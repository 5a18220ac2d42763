"""Read a shapes-world caption back into what it asks for: the inverse of `render.caption`.

"a red circle moving in a zigzag on a black background" -> ClipSpec(shape="circle", color="red",
background="black", motion="zigzag"). Anything that is not exactly such a caption (other words,
unknown values, an object the colour of its background) gives None, so callers can tell the shapes
world's prompts from any other model's.
"""

from __future__ import annotations

import re

from shapesworld.render import BACKGROUND_PHRASES, COLORS, MOTION_PHRASES, SHAPES, ClipSpec


def _alternatives(phrases: dict[str, str]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases.values(), key=len, reverse=True))


_MOTION_BY_PHRASE = {phrase: name for name, phrase in MOTION_PHRASES.items()}
_BACKGROUND_BY_PHRASE = {phrase: name for name, phrase in BACKGROUND_PHRASES.items()}
_CAPTION = re.compile(
    rf"an? (?P<color>{'|'.join(COLORS)}) (?P<shape>{'|'.join(SHAPES)}) "
    rf"(?P<motion>{_alternatives(MOTION_PHRASES)}) (?P<background>{_alternatives(BACKGROUND_PHRASES)})"
)


def parse_caption(text: str, frames: int = 8, size: int = 32) -> ClipSpec | None:
    """The ClipSpec a shapes-world caption asks for, or None when `text` is not one."""
    match = _CAPTION.fullmatch(" ".join(text.strip().lower().rstrip(".").split()))
    if match is None:
        return None
    try:
        return ClipSpec(shape=match["shape"], color=match["color"], background=_BACKGROUND_BY_PHRASE[match["background"]],
                        motion=_MOTION_BY_PHRASE[match["motion"]], frames=frames, size=size)
    except ValueError:
        return None
