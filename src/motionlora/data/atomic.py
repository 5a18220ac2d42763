"""Step outputs that are replaced whole or not at all.

Ingest and preprocess build their new output in a staging folder beside `--out` and put it in place
only when they succeed; a failure at any point (a bad batch, a full disk, a kill) removes the
staging folder and leaves the previous output byte for byte as it was.

Putting it in place: an `--out` that already holds output is swapped with two renames on the same
filesystem (old aside, new in, then the old one removed). An absent or empty `--out` — the first
run, and a KFP step's fresh output artifact folder, which may be a mount point and so cannot be
renamed — receives the staged entries by rename instead.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class OutputWriteError(OSError):
    """Writing the new output failed (e.g. the disk is full); the previous output is unchanged."""


def _holds_output(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(out_dir.iterdir())


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not _holds_output(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry in staging.iterdir():
            os.replace(entry, out_dir / entry.name)
        staging.rmdir()
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    old.rmdir()
    os.replace(out_dir, old)
    os.replace(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def replaced_on_success(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `out_dir`; when the block returns, its contents become
    `out_dir`; when it raises, they are discarded and `out_dir` is untouched. A full disk is
    re-raised as `OutputWriteError` naming ENOSPC and saying that the previous output is intact."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        yield staging
        _swap_in(staging, out_dir)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        if err.errno in NO_SPACE:
            kept = f"the previous output in {out_dir} is unchanged" if _holds_output(out_dir) else f"nothing was written to {out_dir}"
            raise OutputWriteError(err.errno, f"no space left on device (ENOSPC) while writing {out_dir}'s new output; {kept}") from err
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
