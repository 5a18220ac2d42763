"""Shared fixtures: a tiny diffusers-format T2V model built offline, once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread for this process and every subprocess it starts (kfp.local steps, torchrun
# ranks, CLIs): the tests check numbers, not speed, their models are tiny, and on a two-core
# machine shared with another process a two-thread OpenMP pool spends most of its time waiting for
# a core (a tiny-model training step took 10-14 s instead of 0.5 s). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random T2V model on disk (UNet3D, VAE, CLIP text encoder, tokenizer, DDIM)."""
    from motionlora.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def tiny_animatediff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model on the AnimateDiff backbone (UNetMotionModel)."""
    from motionlora.testing.tiny_model import TinyModelSpec, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-animatediff"), seed=0, spec=TinyModelSpec(backbone="animatediff"))


@pytest.fixture(params=["unet3d", "animatediff"])
def backbone_dir(request: pytest.FixtureRequest) -> Path:
    """Each supported backbone's tiny model in turn."""
    return request.getfixturevalue("tiny_model_dir" if request.param == "unet3d" else "tiny_animatediff_dir")


@pytest.fixture(scope="session")
def preprocessed_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 4-frame 32x32 clips of a square sliding right over different backgrounds, run through the
    real ingest and preprocess steps (frame folders, so no video codec is involved)."""
    import imageio.v3 as iio
    import numpy as np

    from motionlora.data.ingest import IngestSettings, ingest
    from motionlora.data.preprocess import PreprocessSettings, preprocess
    from motionlora.data.sources import LocalSource

    src = tmp_path_factory.mktemp("clips")
    for clip in range(2):
        frames = np.empty((4, 32, 32, 3), np.uint8)
        frames[:] = np.random.default_rng(clip).integers(0, 160, size=3, dtype=np.uint8)
        (src / f"clip{clip}").mkdir()
        for i, frame in enumerate(frames):
            frame[10:18, 4 * i : 4 * i + 8] = 255
            iio.imwrite(src / f"clip{clip}" / f"{i:03d}.png", frame)
    root = tmp_path_factory.mktemp("data")
    ingest(LocalSource(src), root / "ingested", IngestSettings(prompt="a white square slides right"), progress=False)
    preprocess(root / "ingested", tiny_model_dir, root / "pre", PreprocessSettings(frames=4, width=32, height=32), progress=False)
    return root / "pre"
