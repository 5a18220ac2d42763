"""Shared fixtures: a tiny diffusers-format T2V model built offline once per session, its data,
new MLflow SQLite stores; and a check that tests write under their temp folders only."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread for this process and every subprocess it starts (kfp.local steps, torchrun
# ranks, CLIs): the tests check numbers, not speed, their models are tiny, and on a two-core
# machine shared with another process a two-thread OpenMP pool spends most of its time waiting for
# a core (a tiny-model training step took 10-14 s instead of 0.5 s). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# torch.compile in-process: by default inductor starts a pool of compile workers, each importing
# torch, which cost more CPU than the tests' tiny graphs take to compile (about 20 CPU-seconds a
# session, measured with the suite's per-test CPU times).
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
# The garbage collector, less often: importing torch, diffusers, transformers, MLflow and kfp makes
# millions of objects that live as long as the process, and every full collection walks all of them
# (about 0.35 s each). Measured with gc.callbacks: each worker spent 1.9 CPU-seconds in the
# collector while collecting the tests (0.6 with these thresholds), and the two spent 20 a session
# while testing (about 8 with these thresholds and the imported objects frozen once collected,
# pytest_collection_finish).
gc.set_threshold(50_000, 20, 100)


REPO = Path(__file__).resolve().parents[1]
SESSION_FOLDER = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """One folder for what the whole session shares across xdist workers (a server that costs
    seconds to start): made by the controller, or by the only process without xdist; each worker is
    told its path (pytest_configure_node)."""
    if hasattr(config, "workerinput"):
        config.stash[SESSION_FOLDER] = Path(config.workerinput["motionlora_session_folder"])
    else:
        config.stash[SESSION_FOLDER] = Path(tempfile.mkdtemp(prefix="motionlora-tests-"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    node.workerinput["motionlora_session_folder"] = str(node.config.stash[SESSION_FOLDER])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collection imported what the tests use: keep the garbage collector off those objects (see
    the thresholds above). Objects the tests make are still collected."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    """After every worker is done: stop the shared servers, remove the folder."""
    if hasattr(config, "workerinput") or SESSION_FOLDER not in config.stash:
        return
    from tests.integration.servers import stop_shared

    folder = config.stash[SESSION_FOLDER]
    stop_shared(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def session_folder(pytestconfig: pytest.Config) -> Path:
    """The folder every worker of this session shares (see pytest_configure)."""
    return pytestconfig.stash[SESSION_FOLDER]


@pytest.fixture(autouse=True)
def _writes_nothing_into_the_repository():
    """Tests write under their temp folders: a new entry at the top of the repository (./mlruns from
    an MLflow SQLite store given no artifact location, ./mlflow.db, ./outputs, ...) fails the test
    during which it appeared. One directory listing before and after each test."""
    before = set(os.listdir(REPO))
    yield
    new = sorted(set(os.listdir(REPO)) - before)
    if new:
        pytest.fail(f"{', '.join(new)} appeared in {REPO} during this test: tests write under tmp_path", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _dvc_state_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory):
    """DVC keeps each repository's state (index, locks, temp files) in a site cache folder,
    /var/tmp/dvc by default; the tests' repositories, and the DVC processes they start, keep theirs
    in a temp folder instead."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path_factory.mktemp("dvc-site-cache")))
        yield


@pytest.fixture(scope="session")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """`mlflow_sqlite(folder)`: the URI of a new, empty MLflow SQLite store, folder/mlflow.db. MLflow
    creates a database by running every schema migration, about 1.5 CPU-seconds each time; this
    runs them once per session and copies the result."""
    import mlflow

    template = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{template}").search_experiments()

    def store(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, folder / "mlflow.db")
        return f"sqlite:///{folder / 'mlflow.db'}"

    return store


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
    """Two 4-frame 16x16 clips of a square sliding right over different backgrounds, run through the
    real ingest and preprocess steps (frame folders, so no video codec is involved). Half the tiny
    model's native size: 8x8 latents, a quarter of the training tests' compute at 16x16, and the
    same checks."""
    import imageio.v3 as iio
    import numpy as np

    from motionlora.data.ingest import IngestSettings, ingest
    from motionlora.data.preprocess import PreprocessSettings, preprocess
    from motionlora.data.sources import LocalSource

    src = tmp_path_factory.mktemp("clips")
    for clip in range(2):
        frames = np.empty((4, 16, 16, 3), np.uint8)
        frames[:] = np.random.default_rng(clip).integers(0, 160, size=3, dtype=np.uint8)
        (src / f"clip{clip}").mkdir()
        for i, frame in enumerate(frames):
            frame[5:9, 2 * i : 2 * i + 4] = 255
            iio.imwrite(src / f"clip{clip}" / f"{i:03d}.png", frame)
    root = tmp_path_factory.mktemp("data")
    ingest(LocalSource(src), root / "ingested", IngestSettings(prompt="a white square slides right"), progress=False)
    preprocess(root / "ingested", tiny_model_dir, root / "pre", PreprocessSettings(frames=4, width=16, height=16), progress=False)
    return root / "pre"
