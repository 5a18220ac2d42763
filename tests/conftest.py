"""Shared fixtures: a tiny diffusers-format T2V model built offline, once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random T2V model on disk (UNet3D, VAE, CLIP text encoder, tokenizer, DDIM)."""
    from motionlora.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def tiny_animatediff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model on the AnimateDiff backbone (UNetMotionModel)."""
    from motionlora.models import TinyModelSpec, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-animatediff"), seed=0, spec=TinyModelSpec(backbone="animatediff"))


@pytest.fixture(params=["unet3d", "animatediff"])
def backbone_dir(request: pytest.FixtureRequest) -> Path:
    """Each supported backbone's tiny model in turn."""
    return request.getfixturevalue("tiny_model_dir" if request.param == "unet3d" else "tiny_animatediff_dir")
