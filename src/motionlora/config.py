"""Typed configs from YAML recipes, with `key=value` overrides and errors that name the bad key.

Each step's settings are a frozen pydantic dataclass (`@settings_class`), each field carrying its
meaning (`Field(description=...)`, from which README's settings tables are generated); a recipe in
`configs/` holds one section per step. Validation is pydantic's strict mode: a number is not read
from a string nor a boolean from `yes`, and every element of a list is checked. Unknown keys are
refused with the list of valid ones, since a misspelt key silently ignored means a run with
settings nobody asked for. So are NaN and infinity for any number: no setting means anything by
them, and a NaN learning rate or gate threshold fails no comparison, so it would otherwise run (or
pass) silently.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import pydantic.dataclasses
import yaml
from pydantic import AfterValidator, ConfigDict, Field, ValidationError
from typing_extensions import dataclass_transform

T = TypeVar("T")

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


@dataclass_transform(frozen_default=True, field_specifiers=(Field,))
def settings_class(cls: type[T]) -> type[T]:
    """A frozen pydantic dataclass validated under `STRICT`: a settings class keeps the dataclass
    API (`dataclasses.replace`, `asdict`, `fields`) and is checked however it is built."""
    return pydantic.dataclasses.dataclass(cls, frozen=True, config=STRICT)


def one_of(choices: Iterable[str]) -> AfterValidator:
    """A str setting restricted to `choices`, the keys of a registry defined elsewhere (presets,
    schedulers): `Annotated[str, one_of(PRESETS)]`."""
    valid = sorted(choices)

    def check(value: str) -> str:
        if value not in valid:
            raise ValueError(f"must be one of {valid}")
        return value

    return AfterValidator(check)


def _sentence(error: Mapping[str, Any], where: str) -> str:
    """One of pydantic's errors as `where.key: must be ..., got value`."""
    message = str(error["msg"])
    for theirs, ours in (("Input should be ", "must be "), ("Value error, ", "")):
        if message.startswith(theirs):
            message = ours + message[len(theirs):]
    message = message[:1].lower() + message[1:]
    if not error["loc"]:
        return f"{where}: {message}"
    return f"{where}.{'.'.join(str(part) for part in error['loc'])}: {message}, got {error['input']!r}"


def _tuples(value: Any) -> Any:
    """YAML and JSON have one sequence type, the list; settings are frozen, so theirs are tuples."""
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Settings class `cls` from `data`; one line naming `where.key` for each bad value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    valid = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")
    try:
        return cls(**{key: _tuples(value) for key, value in data.items()})
    except ValidationError as err:
        raise ValueError("; ".join(_sentence(error, where) for error in err.errors())) from None


class _RecipeLoader(yaml.SafeLoader):
    """YAML with YAML 1.2's booleans and floats. YAML 1.1 also reads yes/no/on/off as booleans, so
    `highway_scope: off` (or `--set highway_scope=off`) would arrive as False; and it reads `1e-3`
    (no dot) as a string, where every setting means the number."""


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"), list("-+.0123456789")
)


def load_yaml(text: str) -> Any:
    """A recipe or `--set` value as YAML, with YAML 1.2's booleans and floats (`_RecipeLoader`)."""
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


def load_config(cls: type[T], path: str | Path | None, section: str, overrides: Sequence[str] = (),
                settings: Mapping[str, Any] | None = None) -> T:
    """`cls` from the `section` of the YAML recipe at `path` (defaults alone when None), then the
    `key=value` `overrides`, then typed `settings` (a step's parameters, a command's flags), checked once."""
    data: dict[str, Any] = {}
    if path is not None:
        loaded = load_yaml(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a recipe must be a mapping of sections")
        data = loaded.get(section) or {}
    data = {**apply_overrides(data, overrides), **(settings or {})}
    return config_from_dict(cls, data, f"{path or 'defaults'}:{section}")
