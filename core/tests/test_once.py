"""Process-wide objects are built once, even by threads asking at the same moment."""

import threading
import time

import pytest

from core.once import built_once


def test_threads_asking_together_share_one_build():
    builds = []
    start = threading.Barrier(20)

    @built_once
    def table(name: str) -> object:
        builds.append(name)
        time.sleep(0.05)  # long enough for every thread to arrive while it builds
        return object()

    results = []

    def ask() -> None:
        start.wait()
        results.append(table("o200k"))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert builds == ["o200k"]
    assert len({id(result) for result in results}) == 1


def test_each_distinct_argument_has_its_own_value():
    @built_once
    def table(name: str, *, size: int = 1) -> tuple[str, int]:
        return (name, size)

    assert table("a") is table("a")
    assert table("a", size=2) == ("a", 2)
    assert table("b") == ("b", 1)


def test_a_failed_build_is_tried_again():
    attempts = []

    @built_once
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("model file unreadable")
        return "built"

    with pytest.raises(OSError):
        flaky()
    assert flaky() == "built"
    assert len(attempts) == 2


def test_cache_clear_builds_again():
    builds = []

    @built_once
    def catalog() -> int:
        builds.append(1)
        return len(builds)

    assert catalog() == 1
    catalog.cache_clear()
    assert catalog() == 2
