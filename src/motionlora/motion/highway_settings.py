"""`HighwaySettings`: how the appearance highway (`highway.py`) acts, as plain settings that recipes,
motion.json and the sampling config share, readable without loading torch."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from motionlora.config import settings_class

HighwayScope = Literal["off", "all", "deepest"]
HIGHWAY_SCOPES: tuple[str, ...] = get_args(HighwayScope)
SCOPE_MEANING = ("appearance-highway scope: `off`, `all` (every cross-attention down block), `deepest` (only the "
                 "skips that feed `up_blocks[1]`, as the authors' code)")
BETA_MEANING = "appearance-highway scale β on the spatial output (the paper's best: 1.1)"


@settings_class
class HighwaySettings:
    """How the appearance highway acts when an adapter is sampled. Recipes and motion.json spell it
    flat (`highway_scope`/`highway_beta` in `train` and motion.json, `highway`/`beta` in `sampling`);
    the configs hand it over as one value. The defaults are what an adapter records when its recipe
    says nothing: the paper's best setting."""

    scope: HighwayScope = Field("all", description=SCOPE_MEANING)
    beta: float = Field(1.1, description=BETA_MEANING)
