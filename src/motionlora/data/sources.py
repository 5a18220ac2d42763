"""Where reference clips come from: a local folder, an fsspec URL, or a DVC-tracked path at a git rev.

Every source is seen the same way by ingest: a flat list of file names relative to its root
(posix, as the source spells them), a way to copy one file to a local path, and provenance for the
manifest. Sources are only ever read: nothing here writes to or deletes from a source.

Names come from outside (an S3 key may literally be `clips/../../etc/passwd`), so `is_safe_name`
is checked before a name is used, and a local symlink that leads out of the source folder is
refused when it is fetched.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Protocol

from motionlora.data.manifest import DvcOrigin
from motionlora.hashing import files_sha256

# Checksums that storages keep beside a file's bytes, in the order they are trusted.
_STORED_CHECKSUMS = ("md5", "ETag", "etag", "md5Hash")


class UnsafeNameError(ValueError):
    """A listed name would read or write outside the folder it belongs to."""


class ClipSource(Protocol):
    """A read-only tree of files that ingest lists and copies clips from."""

    description: str

    def list_files(self) -> list[str]:
        """Every file under the root, as posix names relative to it."""

    def fetch(self, name: str, dest: Path) -> None:
        """Copy the file `name` to the local path `dest`."""

    def read_bytes(self, name: str) -> bytes:
        """The content of a (small) file such as a caption sidecar."""

    def provenance(self, name: str) -> DvcOrigin | None:
        """Where `name` (`""`: the root itself) came from beyond the description (None when nothing more is known)."""

    def content_id(self, name: str) -> str:
        """What identifies the content of file `name`: a hash of its bytes, or the checksum its
        storage keeps (DVC's md5, an object store's ETag), so that a changed file changes it."""


def is_safe_name(name: str) -> bool:
    """True when `name` is relative and stays inside its root (no `..`, no absolute path)."""
    if not name or "\x00" in name or "\\" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def _with_captions(single: str, exists: Callable[[str], bool]) -> list[str]:
    """A single-clip source lists the clip and the caption files beside it that could caption it."""
    from motionlora.data.captions import CAPTION_TABLES, SIDECAR_SUFFIX  # (captions imports this module)

    companions = (posixpath.splitext(single)[0] + SIDECAR_SUFFIX, *CAPTION_TABLES)
    return [single, *(name for name in companions if exists(name))]


def _check_safe(name: str) -> None:
    if not is_safe_name(name):
        raise UnsafeNameError(f"unsafe name {name!r}: it leads out of the source folder")


class LocalSource:
    """A folder (or a single file) on the local disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path).expanduser().absolute()
        if not path.exists():
            raise FileNotFoundError(f"source {path} does not exist")
        self.root, self._single = (path.parent, path.name) if path.is_file() else (path, None)
        self.description = str(path)

    def overlaps(self, path: str | os.PathLike) -> bool:
        """True when writing to `path` could write into this source folder (or vice versa)."""
        if self._single is not None:
            return False
        mine, other = self.root.resolve(), Path(path).expanduser().resolve()
        return other.is_relative_to(mine) or mine.is_relative_to(other)

    def list_files(self) -> list[str]:
        if self._single is not None:
            return _with_captions(self._single, lambda name: (self.root / name).is_file())
        names = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, .dvc: never clips, maybe huge
            rel = Path(folder).relative_to(self.root)
            names.extend((rel / name).as_posix() for name in files)
        return sorted(names)

    def _resolve(self, name: str) -> Path:
        _check_safe(name)
        path = self.root / name
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise UnsafeNameError(f"{name!r} is a link that leads out of the source folder")
        return path

    def fetch(self, name: str, dest: Path) -> None:
        shutil.copyfile(self._resolve(name), dest)

    def read_bytes(self, name: str) -> bytes:
        return self._resolve(name).read_bytes()

    def provenance(self, name: str) -> DvcOrigin | None:
        return None

    def content_id(self, name: str) -> str:
        return f"sha256:{files_sha256([(b'', self._resolve(name))])}"


class FsspecSource:
    """Any fsspec filesystem: s3://, gs://, http(s)://, memory://, or a DVC filesystem."""

    def __init__(self, fs: Any, root: str, description: str) -> None:
        self.fs = fs
        root = root.rstrip("/") or "/"
        if not fs.exists(root):
            raise FileNotFoundError(f"source {description} does not exist")
        if fs.isfile(root):
            parent, self._single = posixpath.split(root)
            self.root = parent or "/"
        else:
            self.root, self._single = root, None
        self.description = description

    @classmethod
    def from_url(cls, url: str) -> FsspecSource:
        import fsspec

        try:
            fs, root = fsspec.core.url_to_fs(url)
        except ImportError as err:
            protocol = url.split("://", 1)[0]
            raise ImportError(
                f"reading {url!r} needs the fsspec backend for {protocol}:// ({err}); "
                "install it, e.g. `pip install s3fs` or `pip install gcsfs`"
            ) from err
        return cls(fs, root, url)

    def _key(self, name: str) -> str:
        _check_safe(name)
        return f"{self.root.rstrip('/')}/{name}"

    def list_files(self) -> list[str]:
        if self._single is not None:
            return _with_captions(self._single, lambda name: self.fs.isfile(self._key(name)))
        prefix = self.root.rstrip("/") + "/"
        keys = self.fs.find(self.root, withdirs=False, detail=False)
        return sorted(key[len(prefix):] for key in keys if key.startswith(prefix))

    def fetch(self, name: str, dest: Path) -> None:
        self.fs.get_file(self._key(name), str(dest))

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self._key(name))

    def provenance(self, name: str) -> DvcOrigin | None:
        return None

    def content_id(self, name: str) -> str:
        """The checksum the storage reports (DVC's md5, S3's ETag, GCS's md5Hash), else fsspec's
        checksum of the file's listing (size and modification time among it): never a download."""
        info = self.fs.info(self._key(name))
        for field in _STORED_CHECKSUMS:
            if info.get(field):
                return f"{field}:{info[field]}"
        return f"fsspec:{self.fs.checksum(self._key(name))}"


class DvcSource(FsspecSource):
    """A path tracked by DVC in a git repository, as it was at a git revision.

    Files are read through `dvc.api.DVCFileSystem`: from the DVC cache when present, else from the
    repository's DVC remote, so a fresh clone needs no `dvc pull` first.
    """

    def __init__(self, repo: str, rev: str | None, path: str) -> None:
        from dvc.api import DVCFileSystem
        from dvc.exceptions import DvcException

        try:
            fs = DVCFileSystem(repo, rev=rev)
            self.commit = fs.repo.get_rev()
        except DvcException as err:
            raise ValueError(f"DVC repo {repo!r} at rev {rev or 'workspace'!r}: {err}") from err
        self.repo, self.rev = repo, rev
        super().__init__(fs, path.strip("/") or "/", f"dvc:{repo}@{rev or 'workspace'}:{path}")

    def provenance(self, name: str) -> DvcOrigin:
        key = self._key(name) if name else self.root  # "" names a frame folder at the root itself
        return DvcOrigin(repo=self.repo, rev=self.rev, commit=self.commit, path=key, md5=self.fs.info(key).get("md5"))


def is_direct(source: str) -> bool:
    """A URL or an absolute path: read as it is, never through DVC."""
    return "://" in source or Path(source).is_absolute()


def open_pipeline_source(source: str, dvc_repo: str | None, dvc_rev: str | None) -> ClipSource:
    """The pipeline's `source`: a URL or an absolute folder is read as it is (a user's own clips), a
    relative path is a DVC path inside `dvc_repo` at `dvc_rev` when a repo is set (the sample
    concept's `data/bounce`), else a folder. A revision only makes sense for a DVC path."""
    if is_direct(source):
        if dvc_rev:
            raise ValueError(f"dvc_rev {dvc_rev!r} given with source {source!r}, which DVC does not track: "
                             "give a path inside dvc_repo, or leave dvc_rev empty")
        return open_source(source)
    return open_source(source, dvc_repo, dvc_rev)


def open_source(source: str, dvc_repo: str | None = None, dvc_rev: str | None = None) -> ClipSource:
    """The source for a CLI SOURCE argument: DVC when a repo or rev is given, else a URL or folder."""
    if dvc_repo is not None or dvc_rev is not None:
        return DvcSource(dvc_repo or ".", dvc_rev, source)
    if "://" in source:
        return FsspecSource.from_url(source)
    return LocalSource(source)
