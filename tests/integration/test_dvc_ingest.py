"""Ingest from a DVC-tracked folder at two git tags, from a fresh clone that has never run `dvc pull`.

Real `git` and `dvc` build a repository whose DVC remote is a folder committed inside it (the
layout motionlora itself uses), so the clone reads each version's clips from that remote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motionlora.data.commands import register
from motionlora.data.ingest import ingest
from motionlora.data.sources import DvcSource
from motionlora.data.video import write_video

pytestmark = pytest.mark.slow
def moving_square(seed: int) -> np.ndarray:
    """8 frames of 32x32: a white square sliding right over a seed-coloured background."""
    frames = np.empty((8, 32, 32, 3), np.uint8)
    frames[:] = np.random.default_rng(seed).integers(0, 160, size=3, dtype=np.uint8)
    for i in range(8):
        frames[i, 10:18, 3 * i : 3 * i + 8] = 255
    return frames


GIT = ["git", "-c", "user.name=motionlora-test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]


def _run(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


def _release(repo: Path, tag: str) -> None:
    _dvc(repo, "add", "-q", "data")
    _dvc(repo, "push", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, *GIT, "commit", "-q", "-m", tag)
    _run(repo, "git", "tag", tag)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo with tags v1 (2 clips) and v2 (clip_001 re-rendered, clip_002 added), cloned fresh."""
    repo = tmp_path_factory.mktemp("origin")
    _run(repo, "git", "init", "-q")
    _dvc(repo, "init", "-q")
    _dvc(repo, "remote", "add", "-d", "storage", ".dvc-storage")
    clips = repo / "data" / "clips"
    write_video(clips / "clip_000.mp4", moving_square(seed=0))
    write_video(clips / "clip_001.mp4", moving_square(seed=1))
    (clips / "captions.jsonl").write_text(
        "".join(json.dumps({"file": f"clip_00{i}.mp4", "caption": f"v1 clip {i}"}) + "\n" for i in range(2)))
    _release(repo, "v1")
    write_video(clips / "clip_001.mp4", moving_square(seed=11))
    write_video(clips / "clip_002.gif", moving_square(seed=2))
    (clips / "captions.jsonl").write_text(
        "".join(json.dumps({"file": f, "caption": f"v2 {f}"}) + "\n" for f in ("clip_000.mp4", "clip_001.mp4", "clip_002.gif")))
    _release(repo, "v2")
    target = tmp_path_factory.mktemp("clone") / "repo"
    _run(target.parent, "git", "clone", "-q", str(repo), str(target))
    assert not (target / "data").exists() and not (target / ".dvc" / "cache").exists()
    return target


def test_two_revisions_give_the_two_versions(clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = ingest(DvcSource(str(clone), "v1", "data/clips"), tmp_path / "v1", progress=False)
    assert [(r.source_path, r.caption) for r in v1.accepted] == [("clip_000.mp4", "v1 clip 0"), ("clip_001.mp4", "v1 clip 1")]
    commit_v1 = _run(clone, "git", "rev-parse", "v1^{commit}")
    for row in v1.accepted:
        assert row.dvc.rev == "v1" and row.dvc.commit == commit_v1
        assert row.dvc.path == f"data/clips/{row.source_path}" and len(row.dvc.md5) == 32

    # The CLI form from the issue: --dvc-repo . --dvc-rev v2 data/clips, run inside the clone.
    monkeypatch.chdir(clone)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["data", "ingest", "data/clips", "--dvc-repo", ".", "--dvc-rev", "v2", "--out", str(tmp_path / "v2"), "--quiet"])
    assert args.func(args) == 0
    v2 = [json.loads(line) for line in (tmp_path / "v2" / "manifest.jsonl").read_text().splitlines()]
    assert [(r["source_path"], r["caption"]) for r in v2] == [
        ("clip_000.mp4", "v2 clip_000.mp4"), ("clip_001.mp4", "v2 clip_001.mp4"), ("clip_002.gif", "v2 clip_002.gif")]
    assert {r["dvc"]["commit"] for r in v2} == {_run(clone, "git", "rev-parse", "v2^{commit}")}

    sha = {tag: {r["source_path"]: r["sha256"] for r in rows} for tag, rows in (("v1", [r.to_json() for r in v1.accepted]), ("v2", v2))}
    assert sha["v1"]["clip_000.mp4"] == sha["v2"]["clip_000.mp4"]
    assert sha["v1"]["clip_001.mp4"] != sha["v2"]["clip_001.mp4"]
    assert not (clone / "data").exists()  # reading a revision never checks files out into the clone


def test_a_clip_is_identified_by_the_md5_dvc_recorded_for_it(clone: Path) -> None:
    from motionlora.content_key import source_fingerprint

    v1, v2 = DvcSource(str(clone), "v1", "data/clips"), DvcSource(str(clone), "v2", "data/clips")
    for name in ("clip_000.mp4", "clip_001.mp4"):
        assert v1.content_id(name) == f"md5:{v1.provenance(name).md5}"
    assert v1.content_id("clip_000.mp4") == v2.content_id("clip_000.mp4")  # unchanged between the tags
    assert v1.content_id("clip_001.mp4") != v2.content_id("clip_001.mp4")  # re-rendered for v2
    assert source_fingerprint(v1) == source_fingerprint(DvcSource(str(clone), "v1", "data/clips"))
    assert source_fingerprint(v1) != source_fingerprint(v2)
