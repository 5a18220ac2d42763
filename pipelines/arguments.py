"""Pipeline arguments from the command line: the recipe's `gate` section, then `--set name=value`.

Parameters not given keep the pipeline's defaults (the embedded local run). Values of `--set` are
parsed as YAML (`steps=60`, `eval_prompts=["a", "b"]`), and names are checked against the
pipeline's signature so a typo fails before anything runs.
"""

import inspect
from typing import Any, Sequence

import yaml

from pipelines.motion_customization import motion_customization

# Recipe `gate` keys -> pipeline parameters.
GATE_PARAMETERS = {"min_motion_gain": "min_motion_gain", "text_alignment_tolerance": "text_alignment_tolerance",
                   "max_appearance_leakage": "max_appearance_leakage", "tolerance": "gate_tolerance"}


def pipeline_parameters() -> dict[str, Any]:
    """Every pipeline parameter with its default."""
    return {name: p.default for name, p in inspect.signature(motion_customization.pipeline_func).parameters.items()}


def build_arguments(recipe: str | None, sets: Sequence[str]) -> dict[str, Any]:
    """Arguments for the pipeline: `recipe` (also passed on as the `recipe` parameter), its gate, `sets`."""
    from motionlora.config import load_config
    from motionlora.registry.gate import GateConfig

    known = pipeline_parameters()
    arguments: dict[str, Any] = {}
    if recipe is not None:
        gate = load_config(GateConfig, recipe, "gate")
        arguments = {"recipe": recipe, **{param: getattr(gate, key) for key, param in GATE_PARAMETERS.items()}}
    for item in sets:
        name, sep, raw = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(known)}")
        arguments[name] = yaml.safe_load(raw)
    return arguments
