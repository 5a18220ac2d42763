"""README's settings tables, generated from the settings classes so that they never drift from the code.

Each table sits between `<!-- settings: module:Class -->` and `<!-- /settings -->`; `make docs`
(`python -m motionlora.settings_docs README.md`) rewrites it from the class's fields: the key, its
meaning (`Field(description=...)`) and its default. The marker names the class by import path, so
no list of classes is kept here, and motionlora imports the shapes world's classes only when a
README asks for them (the shapes world depends on motionlora, never the reverse).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

TABLE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<open><!-- settings: (?P<target>[\w.]+:\w+) -->\n)(?P<table>.*?)^(?P=indent)(?P<close><!-- /settings -->)",
    re.MULTILINE | re.DOTALL,
)


def _default(value: Any) -> str:
    """A default as a recipe would spell it (YAML: JSON's flow style for lists, `null`, `true`)."""
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table(cls: type) -> list[str]:
    """The markdown table of settings class `cls`: one row per key, in the class's order."""
    rows = ["| key | meaning | default |", "|---|---|---|"]
    for name, field in cls.__pydantic_fields__.items():
        if not field.description:
            raise ValueError(f"{cls.__qualname__}.{name} has no description: give it Field(description=...)")
        rows.append(f"| `{name}` | {_cell(field.description)} | `{_cell(_default(field.default))}` |")
    return rows


def _settings_class(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def render(text: str) -> str:
    """`text` with every marked table rewritten from its settings class."""

    def table(match: re.Match[str]) -> str:
        indent = match["indent"]
        rows = settings_table(_settings_class(match["target"]))
        return f"{indent}{match['open']}" + "".join(f"{indent}{row}\n" for row in rows) + f"{indent}{match['close']}"

    return TABLE.sub(table, text)


def main(argv: Sequence[str] = ()) -> int:
    """Rewrite the settings tables of each markdown file named in `argv`."""
    for path in map(Path, argv):
        text = path.read_text(encoding="utf-8")
        rendered = render(text)
        if rendered != text:
            path.write_text(rendered, encoding="utf-8")
            print(f"rewrote the settings tables of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
