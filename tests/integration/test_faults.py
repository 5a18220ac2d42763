"""Faults and what they cost: each case gives an input, the one line the user reads, and the proof
that nothing earlier was lost (hashes of the previous output before and after), or that the good
clips of the same batch were kept.

A full disk is the one fault injected by substitution: the function that writes into the output
raises OSError(ENOSPC), as the kernel would, half-way through the batch.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from motionlora import cli
from motionlora.data import ingest as ingest_module
from tests.unit.clipfactory import moving_square, tree_digest, write_clip


def _run(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit status and the error lines (model-loading progress bars aside); never a traceback."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line for line in err.splitlines() if line.startswith("motionlora")]


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    source = tmp_path / "clips"
    for seed in range(3):
        write_clip(source / f"clip{seed}.mp4", moving_square(seed=seed))
    return source


@pytest.fixture
def ingested(clips: Path, tmp_path: Path, capsys) -> Path:
    out = tmp_path / "ingest"
    code, _ = _run(capsys, "data", "ingest", str(clips), "--out", str(out), "--prompt", "a square moving", "--quiet")
    assert code == 0 and len((out / "manifest.jsonl").read_text().splitlines()) == 3
    return out


def test_a_reingest_with_no_good_clips_keeps_the_previous_output(ingested, tmp_path, capsys):
    before = tree_digest(ingested)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "clip.mp4").write_bytes(b"not a video")
    code, lines = _run(capsys, "data", "ingest", str(broken), "--out", str(ingested), "--prompt", "x", "--quiet")
    assert code == 2 and len(lines) == 1
    rejections = tmp_path / "ingest.rejected.jsonl"
    assert lines[0] == (f"motionlora data: error: only 0 good clip(s) in {broken}, need at least 1; the previous output in "
                        f"{ingested} is unchanged; why the others were rejected: {rejections}")
    assert tree_digest(ingested) == before
    assert '"clip.mp4"' in rejections.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "clips", "ingest", "ingest.rejected.jsonl"]  # no staging left


def test_a_full_disk_during_reingest_fails_naming_enospc_and_keeps_the_previous_output(ingested, clips, tmp_path, capsys, monkeypatch):
    before = tree_digest(ingested)
    real_move, moves = shutil.move, []

    def filling_up(src, dst):
        moves.append(dst)
        if len(moves) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_move(src, dst)

    monkeypatch.setattr(ingest_module.shutil, "move", filling_up)
    code, lines = _run(capsys, "data", "ingest", str(clips), "--out", str(ingested), "--prompt", "a square moving", "--quiet")
    assert code == 2
    assert lines == [f"motionlora data: error: [Errno {errno.ENOSPC}] no space left on device (ENOSPC) while writing {ingested}'s "
                     f"new output; the previous output in {ingested} is unchanged"]
    assert tree_digest(ingested) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "ingest"]


def test_files_ingest_did_not_write_are_never_deleted(ingested, clips, capsys):
    mine = ingested / "clips" / "my-notes.txt"
    mine.write_text("keep me")
    before = tree_digest(ingested)
    code, lines = _run(capsys, "data", "ingest", str(clips), "--out", str(ingested), "--prompt", "a square moving", "--quiet")
    assert code == 2
    assert lines == [f"motionlora data: error: --out {ingested} holds files ingest did not write (clips/my-notes.txt); "
                     "move them out or choose another --out: a new ingest replaces the whole folder"]
    assert tree_digest(ingested) == before and mine.read_text() == "keep me"


def test_a_failing_preprocess_rerun_keeps_the_previous_index_and_shards(ingested, tiny_model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "data"
    args = ("data", "preprocess", str(ingested), "--model", str(tiny_model_dir), "--out", str(out), "--frames", "4",
            "--size", "32x32", "--shard-size", "2", "--quiet")
    assert _run(capsys, *args)[0] == 0
    before = tree_digest(out)
    import safetensors.torch

    real_save, saves = safetensors.torch.save_file, []

    def filling_up(tensors, path, metadata=None):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", filling_up)
    code, lines = _run(capsys, *args[:-3], "--shard-size", "1", "--quiet")  # other settings: a real re-encode, not the cache
    assert code == 2
    assert lines == [f"motionlora data: error: [Errno {errno.ENOSPC}] no space left on device (ENOSPC) while writing {out}'s "
                     f"new output; the previous output in {out} is unchanged"]
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "data", "ingest"]


def _hostile_clips(folder: Path) -> dict[str, Path]:
    """Tiny files that decode to huge frames, or to many frames: the cases of issue 20."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    huge_mp4 = write_clip(folder / "huge.mp4", np.zeros((4, 2048, 2048, 3), np.uint8))
    huge_gif = folder / "huge.gif"
    Image.new("RGB", (5000, 5000)).save(huge_gif)
    long_mp4 = write_clip(folder / "long.mp4", np.zeros((40, 32, 32, 3), np.uint8))
    frames = folder / "huge-frames"
    frames.mkdir()
    for index in range(2):
        Image.new("RGB", (3000, 3000)).save(frames / f"frame_{index}.png")
    return {"huge.mp4": huge_mp4, "huge.gif": huge_gif, "long.mp4": long_mp4, "huge-frames": frames}


def test_clips_beyond_the_decoding_limits_are_refused_naming_the_limit_and_the_good_ones_kept(clips, tmp_path, capsys):
    hostile = _hostile_clips(clips / "hostile")
    out = tmp_path / "ingest"
    code, _ = _run(capsys, "data", "ingest", str(clips), "--out", str(out), "--prompt", "a square moving", "--quiet",
                   "--max-pixels", str(1920 * 1080), "--max-frames", "30")
    assert code == 0
    reasons = {row["path"]: row["reason"] for row in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())}
    assert reasons == {
        "hostile/huge.mp4": f"too large: frames of 2048x2048 = 4194304 pixels exceed the limit of {1920 * 1080} pixels per frame (max_pixels); not decoded",
        "hostile/huge.gif": f"too large: frames of 5000x5000 = 25000000 pixels exceed the limit of {1920 * 1080} pixels per frame (max_pixels); not decoded",
        "hostile/huge-frames": f"too large: frames of 3000x3000 = 9000000 pixels exceed the limit of {1920 * 1080} pixels per frame (max_pixels); not decoded",
        "hostile/long.mp4": "too large: more than 30 frames (max_frames); decoding stopped there",
    }
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3  # the good clips of the same batch
    assert all(path.exists() for path in hostile.values())  # sources are never touched


def test_preprocess_streams_and_keeps_only_the_sampled_frames(tmp_path):
    """A 60-frame clip sampled to 4 frames: only those 4 are ever held, resized as they arrive."""
    import numpy as np

    from motionlora.data import bounded

    clip = write_clip(tmp_path / "clip.mp4", moving_square(frames=60, width=64, height=48, seed=3))
    held = []
    frames = bounded.read_selected(clip, [0, 20, 40, 59, 59], bounded.DecodeLimits(), lambda frame: held.append(frame.shape) or frame[::2, ::2])
    assert frames.shape == (5, 24, 32, 3) and held == [(48, 64, 3)] * 4
    whole = np.stack(list(bounded.iter_frames(clip, bounded.DecodeLimits())))
    assert np.array_equal(frames[1], whole[20][::2, ::2]) and np.array_equal(frames[3], frames[4])


def _truncated_adapter(folder: Path, tiny_model_dir: Path) -> Path:
    """A real adapter whose weights file was cut in half on disk."""
    from motionlora.models import load_t2v_model
    from motionlora.motion import apply_motion_lora, save_motion_adapter

    model = load_t2v_model(tiny_model_dir, parts=("unet",))
    apply_motion_lora(model.unet, "tap-k", rank=2)
    adapter = save_motion_adapter(model.unet, folder, model.identity, "tap-k")
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return adapter


@pytest.mark.parametrize("case", ["file as --out", "truncated adapter", "unclosed YAML list"])
def test_user_errors_are_one_line_never_a_traceback(case, clips, tmp_path, tiny_model_dir, capsys):
    if case == "file as --out":
        taken = tmp_path / "taken"
        taken.write_text("a file, not a folder")
        argv = ["data", "ingest", str(clips), "--out", str(taken), "--prompt", "x", "--quiet"]
        expected = f"motionlora data: error: --out {taken} is a file, not a folder"
    elif case == "truncated adapter":
        adapter = _truncated_adapter(tmp_path / "adapter", tiny_model_dir)
        argv = ["generate", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--prompt", "x", "--out", str(tmp_path / "x.gif")]
        expected = f"motionlora generate: error: {adapter / 'adapter_model.safetensors'}: refusing to load it: not a readable safetensors file ("
    else:
        argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--set", "steps=[1"]
        expected = "motionlora train: error: --set 'steps=[1': the value is not valid YAML ("
    code, lines = _run(capsys, *argv)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(expected), lines
