"""`manifest.jsonl`: one line per clip ingest accepted, read by preprocess, train, evaluate and the registry.

Rows are typed (`ManifestRow`) so a reader names a field the writer defines, instead of a string key
that nothing checks. A manifest written before a field existed still reads: only `path`, `sha256`
and `caption` are required, and keys a later version added are passed over.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

MANIFEST = "manifest.jsonl"
_REQUIRED = ("path", "sha256", "caption")


@dataclass(frozen=True)
class DvcOrigin:
    """Where a clip read through DVC came from: the repository, the revision asked for (None: its
    workspace), the commit that revision was, the path in the repository and DVC's md5 of the file."""

    repo: str | None = None
    rev: str | None = None
    commit: str | None = None
    path: str | None = None
    md5: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DvcOrigin:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class ManifestRow:
    """One accepted clip: `path` relative to the ingest folder (`clips/<sha256>.<ext>`), its content
    hash and caption, what decoding found (frame rate, frames, size, duration), where it came from
    (`source_path` within `source`, `dvc` when read through DVC) and how it got its caption."""

    path: str
    sha256: str
    caption: str
    source_path: str | None = None
    format: str | None = None
    fps: float | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    caption_source: str | None = None
    concept: str | None = None
    source: str | None = None
    dvc: DvcOrigin | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestRow:
        """A row from its JSON object; a ValueError names the required keys it lacks."""
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise ValueError(f"missing {missing}")
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if values.get("dvc") is not None:
            values["dvc"] = DvcOrigin.from_json(values["dvc"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the row (no `dvc` key for a clip that did not come through DVC)."""
        data = asdict(self)
        if self.dvc is None:
            del data["dvc"]
        return data


def _manifest_rows(path: Path) -> list[ManifestRow]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(ManifestRow.from_json(json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number}: not JSON ({err})") from err
        except ValueError as err:
            raise ValueError(f"{path} line {number}: {err}") from err
    return rows


def read_manifest(ingest_dir: str | Path) -> list[ManifestRow]:
    """The accepted clips of an ingest output folder (or of a preprocessed one, which carries a copy
    of the manifest); a clear error when there are none."""
    path = Path(ingest_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `motionlora data ingest` into {ingest_dir} first")
    rows = _manifest_rows(path)
    if not rows:
        raise ValueError(f"{path} lists no clips: nothing to preprocess")
    return rows


def manifest_names(ingest_dir: Path) -> set[str]:
    """The file names of the clips an existing manifest lists, even one that lists none."""
    return {Path(row.path).name for row in _manifest_rows(ingest_dir / MANIFEST)}
