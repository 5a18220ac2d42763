"""A lock per registered model, so that alias moves (promote, rollback, challenger) never interleave.

MLflow has no transactions, and tags and aliases are last-writer-wins: a tag used as a lease
("write my token, read it back") cannot tell two writers apart, since both may read their own
token before the other writes. One operation *is* atomic in every MLflow registry backed by a
SQL database — the SQLite store of a local run and the tracking server alike: creating a
registered model whose name is taken fails with RESOURCE_ALREADY_EXISTS (a unique key on the name).
The lock is built on that:

* acquire: create the registered model `<model>.promotion-lock`, tagged with a random token, the
  holder (host, pid) and a lease expiry. If it exists, wait (capped exponential backoff with
  jitter) until it is gone, or give up after `timeout_s` naming the holder.
* release: delete it, but only while it still carries our token and our lease has time left.
* a holder that died: its lease (2 minutes; a promotion takes seconds) expires, and the next
  contender breaks it by *renaming* it to `<model>.promotion-lock.broken-<its token>`. A rename
  onto a taken name fails, so this is a compare-and-swap on the token: of two contenders that saw
  the same stale lease only one renames it, and one that saw it long ago cannot rename the newer
  lock that replaced it (that target name is taken for good: the markers are kept, as a record of
  the crash). `motionlora registry unlock` breaks a lock at once, with a recorded reason, for a
  holder known to be dead (`repair.unlock`).
* fencing: before writing, the holder calls `verify()`, which re-reads the lock and fails if the
  token is no longer ours or the lease is about to run out, so a holder paused past its lease
  (which someone may have broken) never writes.

Two races of the SQL store itself are absorbed: a create that loses to a holder who releases at
that moment can report "not found" (try again), and a read racing a release can return the lock
row without its tags (treated as held, never as expired).
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from motionlora.registry.names import LOCK_SUFFIX
from motionlora.tracking.errors import MlflowException, already_exists, does_not_exist, unless_missing

TAG_TOKEN = "motionlora.lock.token"
TAG_HOLDER = "motionlora.lock.holder"
TAG_EXPIRES = "motionlora.lock.expires_at"
TAG_BROKEN_BY = "motionlora.lock.broken_by"


class LockTimeoutError(RuntimeError):
    """The lock stayed held by someone else for longer than we were willing to wait."""


class LockLostError(RuntimeError):
    """Our lease ran out or someone broke the lock: we must not write."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class PromotionLock:
    """Context manager holding the promotion lock of registered model `model` (see the module doc)."""

    client: Any
    model: str
    lease_s: float = 120.0
    timeout_s: float = 120.0
    margin_s: float = 30.0
    holder: str = field(default_factory=_holder)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    _expires_at: float | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.model + LOCK_SUFFIX

    def __enter__(self) -> PromotionLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _read(self) -> dict[str, str] | None:
        """The lock's tags, or None when nobody holds it."""
        lock = unless_missing(self.client.get_registered_model, self.name)
        return None if lock is None else dict(lock.tags)

    def _try_create(self) -> bool:
        """Create the lock model; False when it exists (or existed a moment ago), other errors raise."""
        expires = self.clock() + self.lease_s
        try:
            self.client.create_registered_model(
                self.name,
                tags={TAG_TOKEN: self.token, TAG_HOLDER: self.holder, TAG_EXPIRES: f"{expires:.3f}"},
                description=f"promotion lock of {self.model}, held by {self.holder}; deleted on release",
            )
        except MlflowException as err:
            # The SQL store answers a lost race with "not found" when the holder released the lock
            # between our insert and its look-up of the existing row: taken either way, try again.
            if already_exists(err) or does_not_exist(err):
                return False
            raise
        self._expires_at = expires
        return True

    def acquire(self) -> None:
        """Take the lock, waiting for a live holder and breaking a dead one's expired lease."""
        deadline = self.clock() + self.timeout_s
        delay = 0.02
        while not self._try_create():
            tags = self._read()
            # A read that raced with a release may return the lock without its tags: treat it as held.
            expires = tags.get(TAG_EXPIRES) if tags else None
            if expires is not None and float(expires) < self.clock():
                self._break(tags.get(TAG_TOKEN, "unknown"))
                continue
            if self.clock() >= deadline:
                who = tags.get(TAG_HOLDER, "unknown") if tags else "unknown"
                raise LockTimeoutError(
                    f"registered model {self.model} is being changed by {who} (lock {self.name}); "
                    f"gave up after {self.timeout_s:.0f}s — try again, or if that holder is gone the lock frees "
                    "itself when its lease expires"
                )
            if tags is not None:  # held: wait before the next try (released meanwhile: try again at once)
                self.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 2.0)

    def _break(self, stale_token: str) -> None:
        """Compare-and-swap away a lock whose lease expired: rename it to a name unique to its token."""
        marker = f"{self.name}.broken-{stale_token}"
        try:
            self.client.rename_registered_model(self.name, marker)
        except MlflowException:  # lost the swap (taken, gone) or a store race: what the lock holds now decides
            current = self._read()
            if current is None or current.get(TAG_TOKEN) != stale_token:
                return  # someone else broke it, or it was released meanwhile: just try again
            raise
        self.client.set_registered_model_tag(marker, TAG_BROKEN_BY, self.holder)

    def verify(self) -> None:
        """Raise LockLostError unless we still hold the lock with `margin_s` of lease left."""
        if self._expires_at is None:
            raise LockLostError(f"lock {self.name} is not held")
        if self.clock() > self._expires_at - self.margin_s:
            raise LockLostError(f"lock {self.name}: our lease has (nearly) expired; not writing")
        tags = self._read()
        if tags is None or tags.get(TAG_TOKEN) != self.token:
            raise LockLostError(f"lock {self.name} was broken by someone else; not writing")

    def release(self) -> None:
        """Delete the lock if it is still ours; an expired lease is left for the next contender to break."""
        if self._expires_at is None:
            return
        try:
            self.verify()
        except LockLostError:
            return
        finally:
            self._expires_at = None
        self.client.delete_registered_model(self.name)
