"""CLIP loading: the tiny CLIP is built offline and loaded through `load_clip` like a real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motionlora.evaluate.clip import ClipScorer, load_clip
from motionlora.testing.tiny_clip import build_tiny_clip

FRAMES = np.random.default_rng(0).integers(0, 256, size=(5, 48, 40, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"), seed=0)


@pytest.fixture(scope="module")
def clip(tiny_clip_dir: Path) -> ClipScorer:
    return load_clip(tiny_clip_dir)


def test_image_embeddings_are_unit_rows_without_grad(clip: ClipScorer) -> None:
    embeddings = clip.image_embeddings(FRAMES)
    assert embeddings.shape == (5, 16) and embeddings.dtype == torch.float32
    assert not embeddings.requires_grad
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(5))


def test_image_embeddings_do_not_depend_on_batching(clip: ClipScorer, tiny_clip_dir: Path) -> None:
    small_batches = load_clip(tiny_clip_dir)
    small_batches.batch_size = 2
    torch.testing.assert_close(small_batches.image_embeddings(FRAMES), clip.image_embeddings(FRAMES))


def test_text_embeddings(clip: ClipScorer) -> None:
    embeddings = clip.text_embeddings(["a red square moving right", "a circle"])
    assert embeddings.shape == (2, 16)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(clip.text_embeddings("a circle"), embeddings[1:])


def test_tiny_clip_is_reproducible_from_its_seed(clip: ClipScorer, tmp_path: Path) -> None:
    same = load_clip(build_tiny_clip(tmp_path / "same", seed=0))
    other = load_clip(build_tiny_clip(tmp_path / "other", seed=1))
    torch.testing.assert_close(same.image_embeddings(FRAMES), clip.image_embeddings(FRAMES))
    assert not torch.allclose(other.image_embeddings(FRAMES), clip.image_embeddings(FRAMES))


def test_image_embeddings_reject_bad_frames(clip: ClipScorer) -> None:
    with pytest.raises(ValueError, match="uint8"):
        clip.image_embeddings(FRAMES.astype(np.float32))


def test_missing_local_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-clip-here"
    with pytest.raises(FileNotFoundError, match="no-clip-here"):
        load_clip(missing)


def test_folder_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path.name)):
        load_clip(tmp_path)


def test_unreachable_hub_id_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="motionlora-tests/no-such-clip"):
        load_clip("motionlora-tests/no-such-clip")
