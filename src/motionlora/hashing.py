"""sha256 over files, read in chunks: a model's identity, a clip's content address and the
preprocess cache key are all hashes of files on disk, some of them gigabytes of weights."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 22


def files_sha256(files: Iterable[tuple[bytes, Path]]) -> str:
    """sha256 over each `(label, file)` in turn: the label, then the file's bytes.

    The labels are what makes the hash depend on more than the bytes run together: a file's name
    (renaming a weight file changes the model), or its length (frame boundaries). One file with an
    empty label hashes to what `sha256sum` prints for it.
    """
    digest = hashlib.sha256()
    for label, path in files:
        digest.update(label)
        with Path(path).open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
