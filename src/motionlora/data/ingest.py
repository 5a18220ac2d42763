"""Ingest reference clips: list a source, check every clip, copy the good ones, record why the rest are out.

Each candidate clip is copied from the source to a private staging folder first and only that copy
is decoded, hashed and moved into the output, so the source is only ever read. Every candidate is
handled on its own: a broken file is written to `rejected.jsonl` with a reason and never costs the
batch its good clips. Accepted clips are stored under content-addressed names (`clips/<sha256>.mp4`,
or `clips/<sha256>/` for a folder of frames), which also makes re-ingesting into the same folder
idempotent.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from motionlora.data.atomic import NO_SPACE, replaced_on_success
from motionlora.data.bounded import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    ClipInfo,
    ClipTooLargeError,
    DecodeLimits,
    header,
    probe_clip,
)
from motionlora.data.captions import CaptionIndex
from motionlora.data.decode import (
    DEFAULT_FRAME_FOLDER_FPS,
    FRAME_SUFFIXES,
    VIDEO_CONTAINERS,
    VIDEO_SUFFIXES,
    frame_files,
    frame_sort_key,
    sniff,
    stream_errors,
)
from motionlora.data.manifest import MANIFEST, ManifestRow, manifest_names
from motionlora.data.sources import ClipSource, LocalSource, UnsafeNameError, is_safe_name
from motionlora.hashing import files_sha256

REJECTED = "rejected.jsonl"
CLIPS_DIR = "clips"
_ACCEPTED_TYPES = ", ".join(s.lstrip(".") for s in VIDEO_SUFFIXES) + " and folders of numbered png/jpg frames"


@dataclass(frozen=True)
class IngestSettings:
    """What makes a clip good enough, and what to record with it."""

    concept: str | None = None
    prompt: str | None = None
    min_clips: int = 1
    min_frames: int = 2
    min_size: int = 16
    frame_folder_fps: float = DEFAULT_FRAME_FOLDER_FPS
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = DEFAULT_MAX_FRAMES

    @property
    def limits(self) -> DecodeLimits:
        return DecodeLimits(self.max_pixels, self.max_frames)


class NotEnoughClipsError(ValueError):
    """Fewer good clips than `min_clips` remained (where the rejections went: `ingest`)."""


class _Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Candidate:
    """One clip in the source: a video file, or a folder of frames (`files` in frame order)."""

    name: str
    files: tuple[str, ...]
    is_frames: bool

    @property
    def display(self) -> str:
        return self.name or "."


@dataclass
class IngestReport:
    """What an ingest run accepted and rejected; both lists are also on disk in `out_dir`."""

    out_dir: Path
    accepted: list[ManifestRow] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: counts, and the rejection reasons by kind."""
        reasons = Counter(r["code"] for r in self.rejected)
        detail = f" ({', '.join(f'{code} {n}' for code, n in sorted(reasons.items()))})" if reasons else ""
        return f"ingest: {len(self.accepted)} accepted, {len(self.rejected)} rejected{detail} -> {self.out_dir}"


def clip_sha256(path: str | Path) -> str:
    """sha256 of a clip file (as `sha256sum` prints it), or of a frame folder's frames in frame order."""
    path = Path(path)
    if not path.is_dir():
        return files_sha256([(b"", path)])
    # lengths keep frame boundaries part of the hash
    return files_sha256((f"{frame.stat().st_size}:".encode(), frame) for frame in frame_files(path))


def discover(names: list[str], captions: CaptionIndex) -> tuple[list[Candidate], list[dict[str, str]]]:
    """Group a source listing into candidate clips; names that cannot be clips are rejected here.

    Hidden files (`.DS_Store`, `.dvc/`) and caption files are skipped silently.
    """
    rejected: list[dict[str, str]] = []
    candidates: list[Candidate] = []
    frames: dict[str, list[str]] = {}
    for name in names:
        if not is_safe_name(name):
            rejected.append({"path": name, "code": "unsafe-name", "reason": "unsafe name: it leads out of the source folder"})
            continue
        path = PurePosixPath(name)
        if any(part.startswith(".") for part in path.parts) or captions.is_caption_file(name):
            continue
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            candidates.append(Candidate(name, (name,), False))
        elif suffix in FRAME_SUFFIXES:
            frames.setdefault(posixpath.dirname(name), []).append(name)
        else:
            kind = f"type {suffix!r}" if suffix else "file without an extension"
            rejected.append({"path": name, "code": "unsupported", "reason": f"unsupported {kind}: accepted are {_ACCEPTED_TYPES}"})
    for folder, files in frames.items():
        candidates.append(Candidate(folder, tuple(sorted(files, key=frame_sort_key)), True))
    return sorted(candidates, key=lambda c: c.name), rejected


def _stage(source: ClipSource, candidate: Candidate, work: Path) -> Path:
    """Copy the candidate out of the source into `work`; only this copy is ever opened."""
    if not candidate.is_frames:
        staged = work / f"clip{PurePosixPath(candidate.name).suffix.lower()}"
        source.fetch(candidate.name, staged)
        return staged
    staged = work / "frames"
    staged.mkdir()
    for name in candidate.files:
        source.fetch(name, staged / PurePosixPath(name).name)
    return staged


def _decode_checked(staged: Path, is_frames: bool, settings: IngestSettings) -> ClipInfo:
    """What the clip is (size, frame rate, frames), decoding each frame once and keeping none (`data.bounded`)."""
    if is_frames:
        try:
            return probe_clip(staged, settings.frame_folder_fps, settings.limits)
        except ClipTooLargeError as err:
            raise _Rejected("too-large", f"too large: {err}") from err
        except ValueError as err:
            raise _Rejected("corrupt", f"undecodable frame folder: {err}") from err
    if staged.stat().st_size == 0:
        raise _Rejected("zero-byte", "zero-byte file")
    try:
        header(staged, 0.0, settings.limits)  # refuse huge frames before anything decodes them
    except ClipTooLargeError as err:
        raise _Rejected("too-large", f"too large: {err}") from err
    except Exception:  # not readable as a video at all: the full decode below says why
        pass
    errors = stream_errors(staged)
    if errors:
        errors = errors.replace(str(staged), "the file")
        kind = sniff(staged)
        if kind in VIDEO_CONTAINERS:
            raise _Rejected("corrupt", f"truncated or undecodable {kind}: {errors}")
        raise _Rejected("not-a-video", f"not a video: the file holds {kind}")
    try:
        return probe_clip(staged, 0.0, settings.limits)
    except ClipTooLargeError as err:
        raise _Rejected("too-large", f"too large: {err}") from err
    except Exception as err:  # imageio/pillow raise many types for damaged input
        raise _Rejected("corrupt", f"undecodable: {err}") from err


def _check(video: ClipInfo, settings: IngestSettings) -> None:
    if video.num_frames < settings.min_frames:
        raise _Rejected("too-few-frames", f"too few frames: {video.num_frames} (need at least {settings.min_frames})")
    width, height = video.size
    if min(width, height) < settings.min_size:
        raise _Rejected("too-small", f"too small: {width}x{height} pixels (need at least {settings.min_size}x{settings.min_size})")


def _admit(
    source: ClipSource,
    candidate: Candidate,
    work: Path,
    clips_dir: Path,
    seen: dict[str, str],
    captions: CaptionIndex,
    settings: IngestSettings,
) -> ManifestRow:
    """Check one candidate and move it into `clips_dir`; raises _Rejected with the reason when it is bad."""
    staged = _stage(source, candidate, work)
    sha = clip_sha256(staged)
    if sha in seen:
        raise _Rejected("duplicate", f"duplicate of {seen[sha]} (identical content)")
    video = _decode_checked(staged, candidate.is_frames, settings)
    _check(video, settings)
    caption = captions.lookup(candidate.name, settings.prompt)
    if caption is None:
        stem = PurePosixPath(candidate.display).stem
        raise _Rejected("no-caption", f"no caption: add {stem}.txt beside it, an entry in captions.jsonl or captions.csv, or pass --prompt")
    target = clips_dir / (sha + ("" if candidate.is_frames else staged.suffix))
    if not target.exists():
        shutil.move(staged, target)
    seen[sha] = candidate.display
    width, height = video.size
    return ManifestRow(
        path=target.relative_to(clips_dir.parent).as_posix(),
        source_path=candidate.display,
        sha256=sha,
        format="frames" if candidate.is_frames else staged.suffix.lstrip("."),
        fps=video.fps,
        num_frames=video.num_frames,
        width=width,
        height=height,
        duration=video.num_frames / video.fps if video.fps > 0 else None,
        caption=caption.text,
        caption_source=caption.origin,
        concept=settings.concept,
        source=source.description,
        dvc=source.provenance(candidate.name),
    )


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    os.replace(tmp, path)


def _check_out_dir(source: ClipSource, out_dir: Path) -> None:
    """Refuse an `--out` inside the source, or one holding files an earlier ingest did not write
    (they would be lost when the new output replaces it)."""
    if isinstance(source, LocalSource) and source.overlaps(out_dir):
        raise ValueError(f"--out {out_dir} overlaps the source folder {source.description}; choose a folder outside it")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / MANIFEST).exists():
        raise ValueError(f"--out {out_dir} is not empty and holds no {MANIFEST}: refusing to write into it")
    ours = {MANIFEST, REJECTED, CLIPS_DIR}
    listed = manifest_names(out_dir)
    clips = out_dir / CLIPS_DIR
    foreign = [p.name for p in out_dir.iterdir() if p.name not in ours]
    foreign += [f"{CLIPS_DIR}/{p.name}" for p in (clips.iterdir() if clips.is_dir() else []) if p.name not in listed]
    if foreign:
        raise ValueError(f"--out {out_dir} holds files ingest did not write ({', '.join(sorted(foreign)[:3])}); "
                         "move them out or choose another --out: a new ingest replaces the whole folder")


def ingest(
    source: ClipSource, out_dir: str | Path, settings: IngestSettings = IngestSettings(), progress: bool = True
) -> IngestReport:
    """Validate every clip in `source`, copy the good ones to `out_dir`, write manifest and rejections.

    The new output replaces the previous one in `out_dir` whole, and only when the run succeeds
    (`data.atomic`). With fewer than `settings.min_clips` good clips it raises NotEnoughClipsError:
    a previous output stays as it was and the rejections go to `<out_dir>.rejected.jsonl` beside
    it; without one, `out_dir` receives the manifest and rejections as usual.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    _check_out_dir(source, out_dir)
    names = source.list_files()
    captions = CaptionIndex.build(names, lambda name: source.read_bytes(name).decode("utf-8", errors="replace"))
    candidates, early = discover(names, captions)
    report = IngestReport(out_dir, warnings=list(captions.warnings))
    report.rejected.extend({**r, "source": source.description} for r in early)
    seen: dict[str, str] = {}
    previous = (out_dir / MANIFEST).exists()
    with replaced_on_success(out_dir) as new_dir, tempfile.TemporaryDirectory(prefix="motionlora-ingest-") as staging:
        clips_dir = new_dir / CLIPS_DIR
        clips_dir.mkdir()
        bar = tqdm(candidates, desc="ingest", unit="clip", file=sys.stderr, disable=not progress)
        for number, candidate in enumerate(bar):
            work = Path(staging) / str(number)
            work.mkdir()
            try:
                report.accepted.append(_admit(source, candidate, work, clips_dir, seen, captions, settings))
            except _Rejected as err:
                report.rejected.append({"path": candidate.display, "source": source.description, "code": err.code, "reason": err.reason})
            except UnsafeNameError as err:
                report.rejected.append({"path": candidate.display, "source": source.description, "code": "unsafe-name", "reason": str(err)})
            except Exception as err:  # one unreadable clip must not cost the batch its good clips
                if isinstance(err, OSError) and err.errno in NO_SPACE:
                    raise  # ... but a full disk is not this clip's fault, and leaves the whole output incomplete
                report.rejected.append({"path": candidate.display, "source": source.description, "code": "unreadable", "reason": f"could not be read: {type(err).__name__}: {err}"})
            finally:
                shutil.rmtree(work, ignore_errors=True)
            bar.set_postfix(accepted=len(report.accepted), rejected=len(report.rejected))
        report.rejected.sort(key=lambda r: r["path"])
        enough = len(report.accepted) >= settings.min_clips
        if not enough and previous:
            _write_jsonl(out_dir.parent / f"{out_dir.name}.{REJECTED}", report.rejected)
            raise NotEnoughClipsError(
                f"only {len(report.accepted)} good clip(s) in {source.description}, need at least {settings.min_clips}; "
                f"the previous output in {out_dir} is unchanged; why the others were rejected: {out_dir.parent / f'{out_dir.name}.{REJECTED}'}"
            )
        _write_jsonl(new_dir / MANIFEST, [row.to_json() for row in report.accepted])
        _write_jsonl(new_dir / REJECTED, report.rejected)
    if not enough:
        raise NotEnoughClipsError(
            f"only {len(report.accepted)} good clip(s) in {source.description}, need at least {settings.min_clips}; "
            f"why the others were rejected: {out_dir / REJECTED}"
        )
    return report

