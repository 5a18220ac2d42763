"""Ingest: real clip files of every accepted kind, and every way a clip can be bad."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import fsspec
import numpy as np
import pytest
from clipfactory import data_cli, moving_square, tree_digest, truncated_copy, write_clip, write_frame_folder

from motionlora.data.captions import CaptionIndex
from motionlora.data.decode import decode_clip, frame_sort_key, sniff
from motionlora.data.ingest import IngestSettings, NotEnoughClipsError, ingest
from motionlora.data.sources import FsspecSource, LocalSource, open_pipeline_source, open_source

GOOD = {"a.mp4", "b.webm", "c.gif", "d", "e.avi", "f.MOV"}
BAD = {
    "truncated.mp4": "corrupt",
    "truncated.webm": "corrupt",
    "zero.mp4": "zero-byte",
    "notes.mp4": "not-a-video",
    "still.mp4": "too-few-frames",
    "tiny.mp4": "too-small",
    "copy.mp4": "duplicate",
    "README.md": "unsupported",
}


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every good kind of clip next to every kind of bad one."""
    src = tmp_path_factory.mktemp("mixed")
    write_clip(src / "a.mp4", moving_square(seed=0))
    write_clip(src / "b.webm", moving_square(seed=1))
    write_clip(src / "c.gif", moving_square(seed=2))
    write_frame_folder(src / "d", moving_square(frames=12, width=40, seed=3))
    write_clip(src / "e.avi", moving_square(seed=4))
    write_clip(src / "f.MOV", moving_square(seed=5))
    truncated_copy(write_clip(src / "whole.mp4", moving_square(seed=6)), src / "truncated.mp4")
    truncated_copy(write_clip(src / "whole.webm", moving_square(frames=16, seed=7)), src / "truncated.webm", 0.5)
    (src / "whole.mp4").unlink()
    (src / "whole.webm").unlink()
    (src / "zero.mp4").touch()
    (src / "notes.mp4").write_text("these are my notes, not a video\n")
    write_clip(src / "still.mp4", moving_square(frames=1, seed=8))
    write_clip(src / "tiny.mp4", moving_square(width=8, height=8, seed=9))
    (src / "copy.mp4").write_bytes((src / "a.mp4").read_bytes())
    (src / "README.md").write_text("reference clips\n")
    (src / "a.txt").write_text("a red square moves right\n")
    (src / "captions.jsonl").write_text(json.dumps({"file": "b.webm", "caption": "from jsonl"}) + "\n{broken\n")
    (src / "captions.csv").write_text('file,caption\nc.gif,"from csv, with a comma"\nb.webm,loses to jsonl\n')
    return src


@pytest.fixture(scope="module")
def ingested(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    before = tree_digest(mixed)
    out = tmp_path_factory.mktemp("ingested") / "out"
    assert data_cli("data", "ingest", str(mixed), "--out", str(out), "--prompt", "a square", "--concept", "slide", "--quiet") == 0
    return out, before, tree_digest(mixed)


def test_mixed_folder_accepts_exactly_the_good_clips(ingested: tuple[Path, str, str], mixed: Path) -> None:
    out, _, _ = ingested
    manifest = {row["source_path"]: row for row in _read_jsonl(out / "manifest.jsonl")}
    assert set(manifest) == GOOD
    for name, row in manifest.items():
        copied = out / row["path"]
        assert copied.exists() and copied.is_relative_to(out / "clips")
        assert row["sha256"] in row["path"] and row["concept"] == "slide" and row["source"] == str(mixed)
        if name != "d":
            assert hashlib.sha256(copied.read_bytes()).hexdigest() == row["sha256"]
            assert (copied.read_bytes() == (mixed / name).read_bytes())
    a = manifest["a.mp4"]
    assert (a["num_frames"], a["width"], a["height"], a["fps"], a["duration"]) == (8, 32, 32, 8.0, 1.0)
    assert (manifest["d"]["num_frames"], manifest["d"]["width"], manifest["d"]["format"]) == (12, 40, "frames")
    assert {name: (row["caption"], row["caption_source"]) for name, row in manifest.items()} == {
        "a.mp4": ("a red square moves right", "sidecar"),
        "b.webm": ("from jsonl", "captions.jsonl"),
        "c.gif": ("from csv, with a comma", "captions.csv"),
        "d": ("a square", "prompt"),
        "e.avi": ("a square", "prompt"),
        "f.MOV": ("a square", "prompt"),
    }


def test_every_bad_clip_is_rejected_with_its_reason(ingested: tuple[Path, str, str]) -> None:
    out, _, _ = ingested
    rejected = {row["path"]: row for row in _read_jsonl(out / "rejected.jsonl")}
    assert {name: row["code"] for name, row in rejected.items()} == BAD
    reasons = {name: row["reason"] for name, row in rejected.items()}
    assert reasons["copy.mp4"] == "duplicate of a.mp4 (identical content)"
    assert reasons["zero.mp4"] == "zero-byte file"
    assert reasons["notes.mp4"].startswith("not a video: the file holds text ('these are my notes")
    assert reasons["still.mp4"] == "too few frames: 1 (need at least 2)"
    assert reasons["tiny.mp4"] == "too small: 8x8 pixels (need at least 16x16)"
    assert reasons["truncated.mp4"] == "truncated or undecodable mp4/mov container: no video stream found"
    assert reasons["truncated.webm"].startswith("truncated or undecodable matroska/webm container")
    assert "/tmp" not in reasons["truncated.mp4"]  # the staging copy's path does not leak into reasons


def test_source_folder_is_byte_identical_afterwards(ingested: tuple[Path, str, str]) -> None:
    _, before, after = ingested
    assert before == after


def test_frame_folder_is_decoded_in_numeric_frame_order(ingested: tuple[Path, str, str]) -> None:
    out, _, _ = ingested
    row = next(r for r in _read_jsonl(out / "manifest.jsonl") if r["source_path"] == "d")
    np.testing.assert_array_equal(decode_clip(out / row["path"]).frames, moving_square(frames=12, width=40, seed=3))


def test_too_few_good_clips_fails_after_writing_both_files(mixed: Path, tmp_path: Path) -> None:
    settings = IngestSettings(prompt="x", min_clips=7)
    with pytest.raises(NotEnoughClipsError, match=r"only 6 good clip\(s\) .* need at least 7; .*rejected.jsonl"):
        ingest(LocalSource(mixed), tmp_path / "out", settings, progress=False)
    assert len(_read_jsonl(tmp_path / "out" / "manifest.jsonl")) == 6
    assert len(_read_jsonl(tmp_path / "out" / "rejected.jsonl")) == len(BAD)


def test_clips_without_any_caption_are_rejected(tmp_path: Path) -> None:
    write_clip(tmp_path / "src" / "a.mp4", moving_square(seed=0))
    write_clip(tmp_path / "src" / "b.mp4", moving_square(seed=1))
    (tmp_path / "src" / "b.txt").write_text("captioned")
    report = ingest(LocalSource(tmp_path / "src"), tmp_path / "out", progress=False)
    assert [r.source_path for r in report.accepted] == ["b.mp4"]
    assert report.rejected[0]["code"] == "no-caption" and "a.txt" in report.rejected[0]["reason"]
    assert report.summary().startswith("ingest: 1 accepted, 1 rejected (no-caption 1)")


def test_reingest_replaces_the_output_and_drops_clips_no_longer_there(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_clip(src / "a.mp4", moving_square(seed=0))
    write_clip(src / "b.mp4", moving_square(seed=1))
    settings = IngestSettings(prompt="p")
    ingest(LocalSource(src), tmp_path / "out", settings, progress=False)
    (src / "b.mp4").unlink()
    report = ingest(LocalSource(src), tmp_path / "out", settings, progress=False)
    assert [r.source_path for r in report.accepted] == ["a.mp4"]
    assert sorted(p.name for p in (tmp_path / "out" / "clips").iterdir()) == [Path(report.accepted[0].path).name]


def test_output_inside_the_source_or_over_foreign_files_is_refused(tmp_path: Path) -> None:
    write_clip(tmp_path / "src" / "a.mp4", moving_square())
    with pytest.raises(ValueError, match="overlaps the source folder"):
        ingest(LocalSource(tmp_path / "src"), tmp_path / "src" / "out", progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        ingest(LocalSource(tmp_path / "src"), tmp_path / "busy", IngestSettings(prompt="p"), progress=False)


def test_symlink_out_of_the_source_is_refused(tmp_path: Path) -> None:
    write_clip(tmp_path / "outside.mp4", moving_square(seed=1))
    write_clip(tmp_path / "src" / "a.mp4", moving_square(seed=0))
    (tmp_path / "src" / "escape.mp4").symlink_to(tmp_path / "outside.mp4")
    report = ingest(LocalSource(tmp_path / "src"), tmp_path / "out", IngestSettings(prompt="p"), progress=False)
    assert [r.source_path for r in report.accepted] == ["a.mp4"]
    assert [(r["path"], r["code"]) for r in report.rejected] == [("escape.mp4", "unsafe-name")]


def test_fsspec_source_guards_against_traversal_in_keys_and_captions(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    clip = write_clip(tmp_path / "a.mp4", moving_square()).read_bytes()
    fs.pipe("/bucket/clips/a.mp4", clip)
    fs.pipe("/bucket/clips/../evil.mp4", clip)
    fs.pipe("/bucket/clips/captions.jsonl", b'{"file": "a.mp4", "caption": "remote"}\n{"file": "../../etc/x", "caption": "no"}\n')
    try:
        source = open_source("memory://bucket/clips")
        assert isinstance(source, FsspecSource)
        report = ingest(source, tmp_path / "out", progress=False)
        assert [(r.source_path, r.caption, r.source) for r in report.accepted] == [("a.mp4", "remote", "memory://bucket/clips")]
        assert [(r["path"], r["code"]) for r in report.rejected] == [("../evil.mp4", "unsafe-name")]
        assert report.warnings == ["captions.jsonl line 2: file '../../etc/x' leaves the folder, skipped"]
        assert fs.cat_file("/bucket/clips/a.mp4") == clip
    finally:
        fs.rm("/bucket", recursive=True)


def test_caption_precedence_and_table_errors() -> None:
    files = {
        "x/clip.mp4": "", "x/clip.txt": "  sidecar \n", "x/other.mp4": "", "x/frames/1.png": "",
        "x/captions.jsonl": '{"file": "clip.mp4", "caption": "table"}\n{"file": "other.mp4", "caption": "jsonl"}\n[1]\n',
        "captions.csv": "x/frames,folder caption\nx/other.mp4,csv\nonly-one-column\n",
    }
    index = CaptionIndex.build(files, files.__getitem__)
    assert index.lookup("x/clip.mp4").text == "sidecar"
    assert (index.lookup("x/other.mp4").text, index.lookup("x/other.mp4").origin) == ("jsonl", "captions.jsonl")
    assert index.lookup("x/frames").text == "folder caption"
    assert index.lookup("x/none.mp4") is None and index.lookup("x/none.mp4", "p").origin == "prompt"
    assert index.warnings == ["x/captions.jsonl line 3: expected a file and a caption, skipped",
                              "captions.csv line 3: expected a file and a caption, skipped"]


def test_sniff_names_what_a_file_holds(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("hello")
    (tmp_path / "z").write_bytes(b"PK\x03\x04rest")
    assert sniff(tmp_path / "t") == "text ('hello')"
    assert sniff(tmp_path / "z") == "archive"
    assert sniff(write_clip(tmp_path / "v.webm", moving_square())) == "matroska/webm container"
    assert sorted(["f10.png", "f9.png", "f1.png"], key=frame_sort_key) == ["f1.png", "f9.png", "f10.png"]


def test_a_single_file_source_takes_only_that_clip_with_its_sidecar(mixed: Path, tmp_path: Path) -> None:
    report = ingest(open_source(str(mixed / "a.mp4")), tmp_path / "out", progress=False)
    assert [(r.source_path, r.caption) for r in report.accepted] == [("a.mp4", "a red square moves right")]
    assert report.rejected == []


def test_the_pipeline_reads_urls_and_absolute_folders_directly_and_relative_paths_through_dvc(tmp_path, monkeypatch):
    """The sample concept is a DVC path (`data/bounce` in the repo); a user's own clips are a folder
    or a bucket, which must not be looked up in the project's DVC repo."""
    assert isinstance(open_pipeline_source(str(tmp_path), ".", None), LocalSource)
    fsspec.filesystem("memory").pipe("/pipeline-bucket/clips/a.mp4", b"x")
    assert isinstance(open_pipeline_source("memory://pipeline-bucket/clips", ".", None), FsspecSource)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clips").mkdir()
    assert isinstance(open_pipeline_source("clips", None, None), LocalSource)
    with pytest.raises(ValueError, match="dvc_rev 'v2' given with source .* which DVC does not track"):
        open_pipeline_source(str(tmp_path), ".", "v2")
