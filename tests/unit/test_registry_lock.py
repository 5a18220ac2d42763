"""The promotion lock on a real MLflow registry (SQLite): exclusion, waiting, stale leases, fencing.

Time is a fake clock where a test needs to move it, so nothing here sleeps to synchronise.
"""

from __future__ import annotations

import itertools
import threading

import mlflow
import pytest

from motionlora.registry.lock import TAG_BROKEN_BY, LockLostError, LockTimeoutError, PromotionLock

_names = itertools.count()


class FakeClock:
    """A clock that only moves when a test (or a waiting lock's `sleep`) moves it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def client(tmp_path_factory, mlflow_sqlite):
    return mlflow.MlflowClient(mlflow_sqlite(tmp_path_factory.mktemp("lock")))


@pytest.fixture
def model():
    return f"motion-lock{next(_names)}"


def lock(client, model, clock, **kwargs):
    return PromotionLock(client, model, clock=clock, sleep=clock.sleep, **kwargs)


def test_the_lock_is_a_registered_model_that_exists_only_while_held(client, model):
    clock = FakeClock()
    with lock(client, model, clock, holder="a") as held:
        assert client.get_registered_model(held.name).tags["motionlora.lock.holder"] == "a"
        held.verify()
    assert not client.search_registered_models(f"name = '{model}.promotion-lock'")


def test_a_second_contender_waits_and_gives_up_naming_the_holder(client, model):
    clock = FakeClock()
    with lock(client, model, clock, holder="pipeline-7"):
        with pytest.raises(LockTimeoutError, match="pipeline-7"):
            lock(client, model, clock, timeout_s=5).acquire()
        assert clock.now >= 1_000_005.0  # it waited (in fake time) before giving up


def test_an_expired_lease_is_broken_and_the_old_holder_may_no_longer_write(client, model):
    clock = FakeClock()
    dead = lock(client, model, clock, lease_s=60, holder="dead")
    dead.acquire()
    clock.now += 61
    with lock(client, model, clock, holder="next") as alive:
        alive.verify()
        marker = client.get_registered_model(f"{alive.name}.broken-{dead.token}")
        assert marker.tags[TAG_BROKEN_BY] == "next"
        with pytest.raises(LockLostError):
            dead.verify()
        dead.release()  # must not delete the new holder's lock
        alive.verify()


def test_a_contender_that_saw_a_stale_lease_cannot_break_the_lock_that_replaced_it(client, model):
    clock = FakeClock()
    dead = lock(client, model, clock, lease_s=60, holder="dead")
    dead.acquire()
    clock.now += 61
    late = lock(client, model, clock, holder="late")
    with lock(client, model, clock, holder="first") as first:
        late._break(dead.token)  # what `late` does after reading the stale lease, too late
        first.verify()


def test_a_holder_past_its_lease_refuses_to_write(client, model):
    clock = FakeClock()
    with lock(client, model, clock, lease_s=100, margin_s=10) as held:
        clock.now += 95
        with pytest.raises(LockLostError, match="expired"):
            held.verify()


def test_threads_serialise_a_read_modify_write(client, model):
    """Eight threads increment a counter kept in a tag: with the lock no increment is lost."""
    client.create_registered_model(model, tags={"counter": "0"})
    errors = []

    def increment() -> None:
        try:
            with PromotionLock(client, model, timeout_s=60) as held:
                value = int(client.get_registered_model(model).tags["counter"])
                held.verify()
                client.set_registered_model_tag(model, "counter", str(value + 1))
        except Exception as err:  # reported below; a thread's exception would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.get_registered_model(model).tags["counter"] == "8"
