"""Typed configs from YAML recipes, with `key=value` overrides and errors that name the bad key.

Each step has a frozen dataclass; a recipe in `configs/` holds one section per step. Unknown keys
are refused with the list of valid ones, since a misspelt key silently ignored means a run with
settings nobody asked for. So are YAML's `.nan` and `.inf` for any number: no setting means
anything by them, and a NaN learning rate or gate threshold fails no comparison, so it would
otherwise run (or pass) silently.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

T = TypeVar("T")


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, annotation) if isinstance(annotation, type) else True


def _yaml_float(text: str, where: str) -> float:
    """YAML 1.1 reads `1e-3` (no dot) as a string; a float setting takes it as the number it means."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {text!r}") from None


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, checking key names and value types."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            value = config_from_dict(hint, value, f"{where}.{key}")
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        elif isinstance(value, str) and _matches(1.5, hint) and not _matches(value, hint):
            value = _yaml_float(value, f"{where}.{key}")
        if not _matches(value, hint):
            raise ValueError(f"{where}.{key}: expected {hint}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}.{key}: must be a finite number, got {value!r}")
        values[key] = value
    return cls(**values)


class _RecipeLoader(yaml.SafeLoader):
    """YAML with YAML 1.2's booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans,
    so `highway_scope: off` (or `--set highway_scope=off`) would arrive as False."""


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    """A recipe or `--set` value as YAML, with only true/false as booleans (`_RecipeLoader`)."""
    return yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader: builds no Python objects


def parse_value(item: str, raw: str) -> Any:
    """The YAML value of `--set` item `item`; one line naming the item when it is not valid YAML."""
    try:
        return load_yaml(raw)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise ValueError(f"--set {item!r}: the value is not valid YAML ({problem})") from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `a.b=value` overrides (values parsed as YAML) to a nested dict, in order."""
    result = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value")
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[leaf] = parse_value(item, raw)
    return result


def load_config(cls: type[T], path: str | Path | None, section: str, overrides: Sequence[str] = ()) -> T:
    """`cls` from the `section` of the YAML recipe at `path` (defaults alone when None) plus overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        loaded = load_yaml(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a recipe must be a mapping of sections")
        data = loaded.get(section) or {}
    data = apply_overrides(data, overrides)
    return config_from_dict(cls, data, f"{path or 'defaults'}:{section}")
