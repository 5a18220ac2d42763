"""Pipeline arguments from the command line: the recipe's `gate` section, then `--set name=value`.

Parameters not given keep the pipeline's defaults (the embedded local run). Values of `--set` are
parsed as YAML (`steps=60`, `eval_prompts=["a", "b"]`), and names and value types are checked
against the pipeline's signature, so a typo or a wrong type fails in one line before anything runs.
"""

import inspect
from typing import Any, Sequence

from pipelines.motion_customization import motion_customization

# Recipe `gate` keys -> pipeline parameters.
GATE_PARAMETERS = {"min_motion_gain": "min_motion_gain", "text_alignment_tolerance": "text_alignment_tolerance",
                   "max_appearance_leakage": "max_appearance_leakage", "min_judge_motion_correct": "min_judge_motion_correct",
                   "max_judge_leak": "max_judge_leak", "tolerance": "gate_tolerance"}


def pipeline_parameters() -> dict[str, Any]:
    """Every pipeline parameter with its default."""
    return {name: p.default for name, p in inspect.signature(motion_customization.pipeline_func).parameters.items()}


def typed_value(name: str, raw: str, value: Any, annotation: Any) -> Any:
    """`value` (the YAML reading of `raw`) as pipeline parameter `name` of type `annotation` takes
    it: numbers for floats, text for strings — as typed when YAML read a number (`eval_seeds=0`,
    `source=1e3` stays "1e3"); anything else is refused by name."""
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is str and value is None:
        return ""  # `--set dvc_repo=`: YAML reads nothing as null; empty text means unset
    if annotation is str and isinstance(value, str):
        return value
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return raw.strip()
    if annotation is list and isinstance(value, list):
        return value
    kind = {float: "a number", int: "a whole number", str: "text", list: "a list"}.get(annotation, annotation.__name__)
    raise ValueError(f"--set {name}={value!r}: {name} must be {kind}")


def build_arguments(recipe: str | None, sets: Sequence[str]) -> dict[str, Any]:
    """Arguments for the pipeline: `recipe` (also passed on as the `recipe` parameter), its gate, `sets`."""
    from motionlora.config import load_config, parse_value
    from motionlora.registry.gate import GateConfig

    known = pipeline_parameters()
    annotations = {name: p.annotation for name, p in inspect.signature(motion_customization.pipeline_func).parameters.items()}
    arguments: dict[str, Any] = {}
    if recipe is not None:
        gate = load_config(GateConfig, recipe, "gate")
        arguments = {"recipe": recipe, **{param: getattr(gate, key) for key, param in GATE_PARAMETERS.items()}}
    for item in sets:
        name, sep, raw = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(known)}")
        arguments[name] = typed_value(name, raw, parse_value(item, raw), annotations[name])
    return arguments
