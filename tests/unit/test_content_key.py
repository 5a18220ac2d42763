"""The content key that lets KFP reuse the pipeline's work steps: it follows the bytes behind the
pipeline's names (clips, model folder, recipe) and the settings, and nothing else."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import fsspec
import pytest

from motionlora.content_key import content_key, reference_fingerprint, source_fingerprint
from motionlora.data.sources import FsspecSource, LocalSource


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"first clip")
    (folder / "b.mp4").write_bytes(b"second clip")
    return folder


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "weights.safetensors").write_bytes(b"\x00" * 64)
    (folder / "model_index.json").write_text("{}")
    return folder


def test_a_local_clip_is_identified_by_the_sha256_of_its_bytes(clips):
    assert LocalSource(clips).content_id("a.mp4") == "sha256:" + hashlib.sha256(b"first clip").hexdigest()


def test_the_source_fingerprint_follows_names_and_bytes_not_the_folder(clips, tmp_path):
    before = source_fingerprint(LocalSource(clips))
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in clips.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    assert source_fingerprint(LocalSource(copy)) == before
    (copy / "b.mp4").rename(copy / "c.mp4")
    assert source_fingerprint(LocalSource(copy)) != before
    (clips / "a.mp4").write_bytes(b"first clip, edited")
    assert source_fingerprint(LocalSource(clips)) != before


def test_an_object_store_clip_is_identified_by_what_the_store_reports():
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/clips/a.mp4", b"first clip")
    source = FsspecSource(fs, "/bucket/clips", "memory://bucket/clips")
    first = source.content_id("a.mp4")
    assert first.startswith("fsspec:") and source.content_id("a.mp4") == first
    fs.pipe("/bucket/clips/a.mp4", b"first clip, re-uploaded")
    assert source.content_id("a.mp4") != first


def test_a_reference_is_keyed_by_its_content_or_else_its_text(model, tmp_path):
    key = reference_fingerprint(str(model))
    (model / ".cache").mkdir()
    (model / ".cache" / "lock").write_text("hidden bookkeeping")
    assert reference_fingerprint(str(model)) == key  # hidden files are not the model
    assert reference_fingerprint(f"file://{model}") == key
    (model / "unet" / "weights.safetensors").write_bytes(b"\x01" + b"\x00" * 63)
    assert reference_fingerprint(str(model)) != key
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("train: {}\n")
    assert reference_fingerprint(str(recipe)) == "sha256:" + hashlib.sha256(b"train: {}\n").hexdigest()
    assert reference_fingerprint("cerspense/zeroscope_v2_576w") == "text:cerspense/zeroscope_v2_576w"
    assert reference_fingerprint("s3://bucket/models/base") == "text:s3://bucket/models/base"
    assert reference_fingerprint("") == "text:"


def test_a_missing_local_reference_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="models/nowhere/base does not exist"):
        reference_fingerprint(str(tmp_path / "models" / "nowhere" / "base"))


def test_the_key_changes_with_any_setting_and_only_with_the_content_behind_a_name(clips, model, tmp_path):
    settings = {"steps": 400, "eval_prompts": ["a red square"]}
    key = content_key(LocalSource(clips), {"base_model": str(model)}, settings)
    moved = tmp_path / "moved"
    model.rename(moved)
    assert content_key(LocalSource(clips), {"base_model": str(moved)}, settings) == key
    assert content_key(LocalSource(clips), {"base_model": str(moved)}, {**settings, "steps": 401}) != key
    assert content_key(LocalSource(clips), {"clip_model": str(moved)}, settings) != key


def test_keying_a_run_loads_neither_torch_nor_diffusers():
    """start-run computes the key: it must stay a bookkeeping step that starts in a moment."""
    code = "import sys, motionlora.content_key; print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
