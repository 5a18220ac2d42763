"""Preprocess: shapes follow the settings, stored tensors are exactly the encoders' outputs, the cache is reused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from clipfactory import data_cli, moving_square, write_clip, write_frame_folder
from helpers import fresh_model
from safetensors.torch import save_file

from motionlora.data.decode import decode_clip
from motionlora.data.frames import resize_frames, sample_indices, timeline, to_model_input
from motionlora.data.ingest import IngestSettings, ingest
from motionlora.data.manifest import ManifestRow, read_manifest
from motionlora.data.preprocess import PreprocessSettings, load_preprocessed, preprocess
from motionlora.data.sources import LocalSource
from motionlora.testing.tiny_model import TOKENIZER_MAX_LENGTH

SETTINGS = PreprocessSettings(frames=4, width=32, height=32, shard_size=2)


@pytest.fixture(scope="module")
def ingest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 4-frame 32x32 mp4s with sidecar captions and a 6-frame 40x32 frame folder with the fallback."""
    src = tmp_path_factory.mktemp("clips")
    write_clip(src / "a.mp4", moving_square(frames=4, seed=0))
    (src / "a.txt").write_text("a square slides right")
    write_clip(src / "b.mp4", moving_square(frames=4, seed=1))
    (src / "b.txt").write_text("another square")
    write_frame_folder(src / "c", moving_square(frames=6, width=40, seed=2))
    out = tmp_path_factory.mktemp("ingested") / "out"
    ingest(LocalSource(src), out, IngestSettings(prompt="a square"), progress=False)
    return out


@pytest.fixture(scope="module")
def preprocessed(ingest_dir: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "out"
    result = preprocess(ingest_dir, tiny_model_dir, out, SETTINGS, progress=False)
    assert not result.reused and (result.num_clips, result.num_shards) == (3, 2)
    return out


def _row(ingest_dir: Path, source_path: str) -> ManifestRow:
    return next(r for r in read_manifest(ingest_dir) if r.source_path == source_path)


def test_output_shapes_follow_the_settings(preprocessed: Path, ingest_dir: Path) -> None:
    data = load_preprocessed(preprocessed)
    index = json.loads((preprocessed / "index.json").read_text())
    assert index["format"] == "motionlora.preprocessed/1"
    assert (index["frames"], index["width"], index["height"], index["fps"]) == (4, 32, 32, None)
    # the tiny model's tokenizer pads to CLIP's 77 tokens; its text encoder is 32 wide
    assert index["latent_shape"] == [4, 4, 16, 16] and index["text_embedding_shape"] == [TOKENIZER_MAX_LENGTH, 32]
    assert [s["file"] for s in index["shards"]] == ["shard-00000.safetensors", "shard-00001.safetensors"]
    assert [s["num_clips"] for s in index["shards"]] == [2, 1]
    assert index["scaling_factor"] == pytest.approx(0.18215) and index["manifest"] == "manifest.jsonl"
    assert (preprocessed / "manifest.jsonl").read_text() == (ingest_dir / "manifest.jsonl").read_text()
    assert len(data) == 3 and data.latents.shape == (3, 4, 4, 16, 16) and data.text_embeddings.shape == (3, TOKENIZER_MAX_LENGTH, 32)
    assert data.latents.dtype == data.text_embeddings.dtype == torch.float32
    assert [c.id for c in data.clips] == [r.sha256 for r in read_manifest(ingest_dir)]
    item = data[2]
    assert item["latents"].shape == (4, 4, 16, 16) and item["caption"] == "a square"


def test_previews_show_the_sampled_and_cropped_frames(preprocessed: Path, ingest_dir: Path) -> None:
    clip_id = _row(ingest_dir, "c").sha256
    strip = iio.imread(preprocessed / "previews" / f"{clip_id[:12]}.png")
    # 6 frames -> uniform picks 0, 2, 3, 5; 40x32 -> center crop keeps columns 4..35.
    expected = moving_square(frames=6, width=40, seed=2)[[0, 2, 3, 5], :, 4:36]
    np.testing.assert_array_equal(strip, np.concatenate(list(expected), axis=1))
    assert (preprocessed / "previews" / f"{clip_id[:12]}.gif").exists()


def test_stored_tensors_are_exactly_the_encoders_outputs(preprocessed: Path, ingest_dir: Path, tiny_model_dir: Path) -> None:
    """The tiny VAE is random, so decode(encode(x)) is not close to x; what must hold is that the
    stored latents are vae.encode(x).latent_dist.mean * scaling_factor of the decoded, normalised
    frames, so decoding them gives exactly what the VAE gives for x directly."""
    model = fresh_model(tiny_model_dir, ("vae", "text_encoder", "tokenizer"))
    data = load_preprocessed(preprocessed)
    row = _row(ingest_dir, "a.mp4")
    i = [c.id for c in data.clips].index(row.sha256)
    frames = decode_clip(ingest_dir / row.path).frames  # 4 frames at 32x32: no sampling, no resize
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    sf = model.vae.config.scaling_factor
    with torch.no_grad():
        mean = model.vae.encode(x).latent_dist.mean
        torch.testing.assert_close(data.latents[i], (mean * sf).permute(1, 0, 2, 3))
        stored_decoded = model.vae.decode(data.latents[i].permute(1, 0, 2, 3) / sf).sample
        torch.testing.assert_close(stored_decoded, model.vae.decode(mean).sample)
        tokens = model.tokenizer([row.caption], padding="max_length", max_length=model.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt")
        torch.testing.assert_close(data.text_embeddings[i], model.text_encoder(tokens.input_ids)[0][0])
    assert not torch.equal(data.latents[0], data.latents[1])


def test_second_run_reuses_the_cache_and_a_new_setting_recomputes(
    ingest_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["data", "preprocess", str(ingest_dir), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"),
            "--size", "32x32", "--quiet"]
    assert data_cli(*args, "--frames", "4") == 0
    assert "3 clips in 1 shard(s) encoded" in capsys.readouterr().out
    shard = tmp_path / "o" / "shard-00000.safetensors"
    stamp = shard.stat().st_mtime_ns
    assert data_cli(*args, "--frames", "4") == 0
    assert "up to date, reused" in capsys.readouterr().out
    assert shard.stat().st_mtime_ns == stamp
    assert data_cli(*args, "--frames", "2", "--sample", "stride") == 0
    assert "encoded" in capsys.readouterr().out
    assert load_preprocessed(tmp_path / "o").latents.shape == (3, 4, 2, 16, 16)


def test_a_clip_too_short_for_the_frame_count_is_named(ingest_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    row = _row(ingest_dir, "a.mp4")
    with pytest.raises(ValueError, match=rf"{row.path} \(from a.mp4\): clip has 4 frames, fewer than the 5 asked for"):
        preprocess(ingest_dir, tiny_model_dir, tmp_path / "o", PreprocessSettings(frames=5), progress=False)
    with pytest.raises(ValueError, match="multiples of 2"):
        preprocess(ingest_dir, tiny_model_dir, tmp_path / "o", PreprocessSettings(frames=4, width=31), progress=False)


def test_a_clip_edited_after_ingest_is_refused(ingest_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(ingest_dir, tmp_path / "ingest")
    clip = copy / _row(ingest_dir, "b.mp4").path
    clip.write_bytes(clip.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=rf"{clip.name}: content changed since ingest"):
        preprocess(copy, tiny_model_dir, tmp_path / "o", SETTINGS, progress=False)


def test_loader_names_the_file_and_what_is_wrong(preprocessed: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="index.json does not exist: run `motionlora data preprocess`"):
        load_preprocessed(tmp_path)
    broken = shutil.copytree(preprocessed, tmp_path / "broken")
    index = json.loads((broken / "index.json").read_text())

    (broken / "index.json").write_text(json.dumps({**index, "num_clips": 0, "shards": []}))
    with pytest.raises(ValueError, match=r"index.json: lists no clips"):
        load_preprocessed(broken)

    (broken / "index.json").write_text(json.dumps(index))
    save_file({"latents": torch.zeros(2, 4, 4, 8, 8), "text_embeddings": torch.zeros(2, 16, 32)}, broken / "shard-00000.safetensors")
    with pytest.raises(ValueError, match=r"shard-00000.safetensors: latents is torch.float32 \(2, 4, 4, 8, 8\), index.json says float32 \(2, 4, 4, 16, 16\)"):
        load_preprocessed(broken)

    (broken / "shard-00000.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="shard-00000.safetensors: refusing to train on it: not a readable safetensors file"):
        load_preprocessed(broken)

    (broken / "shard-00001.safetensors").unlink()
    (broken / "index.json").write_text(json.dumps({**index, "shards": index["shards"][1:], "num_clips": 1}))
    with pytest.raises(FileNotFoundError, match="shard-00001.safetensors: listed in .*index.json but missing"):
        load_preprocessed(broken)


def test_sampling_modes_and_rates() -> None:
    assert sample_indices(16, 4, "uniform").tolist() == [0, 5, 10, 15]
    assert sample_indices(16, 4, "stride").tolist() == [0, 1, 2, 3]
    assert timeline(48, 24.0, 8.0).tolist() == list(range(0, 48, 3))
    assert sample_indices(48, 4, "stride", fps=24.0, target_fps=8.0).tolist() == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="clip has 3 frames, fewer than the 4 asked for"):
        sample_indices(3, 4)
    with pytest.raises(ValueError, match="above the clip's 8 fps"):
        sample_indices(16, 4, fps=8.0, target_fps=24.0)


def test_resize_and_normalise() -> None:
    frames = np.zeros((2, 20, 40, 3), np.uint8)
    frames[:, :, 10:30] = 255  # a white middle half: a center crop of 20x20 keeps only white
    assert (resize_frames(frames, 20, 20, "center") == 255).all()
    stretched = resize_frames(frames, 20, 20, "resize")
    assert stretched.shape == (2, 20, 20, 3) and stretched[:, :, 0].max() == 0
    assert resize_frames(frames, 40, 20) is frames
    tensor = to_model_input(np.array([[[[0, 255, 0]]]], np.uint8))
    assert tensor.shape == (1, 3, 1, 1) and tensor.flatten().tolist() == [-1.0, 1.0, -1.0]
