"""Where a set of clips came from, summed up from their manifest: what a training summary and a
registered version record so that the data behind an adapter can be found again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motionlora.data.manifest import read_manifest

WORKSPACE = "workspace"


@dataclass(frozen=True)
class ClipsProvenance:
    """The clips' distinct `sources`, the DVC revisions (`workspace` for DVC's working tree) and
    commits they were read at (both empty when none came through DVC), and `location`: the DVC path
    of the first clip read through DVC, else the source of the first clip."""

    num_clips: int
    sources: tuple[str, ...]
    dvc_revs: tuple[str, ...]
    dvc_commits: tuple[str, ...]
    location: str


def clips_provenance(folder: str | Path) -> ClipsProvenance:
    """The provenance of the clips listed by `folder`'s manifest (an ingest folder, or a
    preprocessed one, which carries a copy of it)."""
    rows = read_manifest(folder)
    dvc = [row.dvc for row in rows if row.dvc is not None]
    return ClipsProvenance(
        num_clips=len(rows),
        sources=tuple(sorted({str(row.source) for row in rows})),
        dvc_revs=tuple(sorted({str(d.rev or WORKSPACE) for d in dvc})),
        dvc_commits=tuple(sorted({str(d.commit) for d in dvc})),
        location=str(dvc[0].path if dvc else rows[0].source),
    )
