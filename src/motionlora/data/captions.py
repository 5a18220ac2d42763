"""Find the caption of each clip: a sidecar, a captions table in the folder, or a fallback prompt.

Precedence, most specific first: `clip.txt` beside `clip.mp4` (for a frame folder `frames/`, a
`frames.txt` beside it), then an entry in `captions.jsonl` (`{"file": ..., "caption": ...}` per
line), then `captions.csv` (`file,caption`, header optional), then `--prompt`. A table's `file`
is relative to the folder the table is in, so one table at the top can caption a whole tree.
A malformed table line is skipped with a warning naming the file and line, never fatal: the other
clips keep their captions.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Iterable

from motionlora.data.sources import is_safe_name

CAPTION_TABLES = ("captions.jsonl", "captions.csv")
SIDECAR_SUFFIX = ".txt"


@dataclass(frozen=True)
class Caption:
    """A caption and where it came from (`sidecar`, `captions.jsonl`, `captions.csv`, `prompt`)."""

    text: str
    origin: str


def _normalise(name: str) -> str | None:
    """`./a//b/` -> `a/b`; None when the name leaves its folder."""
    name = posixpath.normpath(name.strip())
    return name if name != "." and is_safe_name(name) else None


def _table_rows(text: str, table: str) -> Iterable[tuple[int, object]]:
    if table.endswith(".jsonl"):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError:
                    yield number, None
        return
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["file", "caption"]:
        rows = [None] + rows[1:]  # keep line numbers: the header is line 1
    for number, row in enumerate(rows, 1):
        if row is not None and any(cell.strip() for cell in row):
            yield number, {"file": row[0], "caption": row[1]} if len(row) >= 2 else None


@dataclass
class CaptionIndex:
    """Captions for the files of one source, built once from its listing."""

    names: frozenset[str]
    read_text: Callable[[str], str]
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, names: Iterable[str], read_text: Callable[[str], str]) -> CaptionIndex:
        """Parse every captions table among `names`; `read_text(name)` reads a file of the source."""
        index = cls(frozenset(names), read_text)
        for table in CAPTION_TABLES:
            index.tables[table] = {}
            for name in sorted(n for n in index.names if PurePosixPath(n).name.lower() == table):
                try:
                    index._load_table(name, table)
                except (OSError, ValueError) as err:
                    index.warnings.append(f"{name}: unreadable ({err}), skipped")
        return index

    def _load_table(self, name: str, table: str) -> None:
        folder = posixpath.dirname(name)
        for number, row in _table_rows(self.read_text(name), table):
            if not (isinstance(row, dict) and isinstance(row.get("file"), str) and isinstance(row.get("caption"), str)):
                self.warnings.append(f"{name} line {number}: expected a file and a caption, skipped")
                continue
            clip = _normalise(posixpath.join(folder, row["file"]))
            if clip is None:
                self.warnings.append(f"{name} line {number}: file {row['file']!r} leaves the folder, skipped")
            elif row["caption"].strip():
                self.tables[table].setdefault(clip, row["caption"].strip())

    def is_caption_file(self, name: str) -> bool:
        """True for files that hold captions rather than clips (tables and `.txt` sidecars)."""
        base = PurePosixPath(name).name.lower()
        return base in CAPTION_TABLES or base.endswith(SIDECAR_SUFFIX)

    def lookup(self, clip: str, fallback: str | None = None) -> Caption | None:
        """The caption of the clip (file or frame folder) named `clip`, or None when it has none."""
        sidecars = [f"{posixpath.splitext(clip)[0]}{suffix}" for suffix in (SIDECAR_SUFFIX, SIDECAR_SUFFIX.upper())]
        for sidecar in sidecars:
            if sidecar in self.names:
                text = self.read_text(sidecar).strip()
                if text:
                    return Caption(text, "sidecar")
        for table in CAPTION_TABLES:
            if clip in self.tables[table]:
                return Caption(self.tables[table][clip], table)
        if fallback and fallback.strip():
            return Caption(fallback.strip(), "prompt")
        return None
