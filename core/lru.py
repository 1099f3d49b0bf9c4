"""A map that keeps its most recently used entries: the per-process caches (search's query
vectors, trusted API keys, index samples and users' copies, agents' plans) are each one."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """Entries weighing at most ``size`` in all (a number, or a function read at each ``put``,
    so a setting changed at run time applies), the least recently used out first; safe across
    threads. Each entry weighs 1 unless ``weight`` says otherwise (a copy's bytes)."""

    def __init__(self, size: int | Callable[[], int], *, weight: Callable[[V], int] | None = None):
        self._size = size if callable(size) else lambda: size
        self._weight = weight or (lambda _: 1)
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def peek(self, key: K) -> V | None:
        """The value of ``key``, or None, leaving the order of use alone."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._forget(key)
            self._entries[key] = value
            self._used += self._weight(value)
            size = self._size()
            while self._used > size:
                _, evicted = self._entries.popitem(last=False)
                self._used -= self._weight(evicted)

    def pop(self, key: K) -> None:
        with self._lock:
            self._forget(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._used = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _forget(self, key: K) -> None:
        value = self._entries.pop(key, None)
        if value is not None:
            self._used -= self._weight(value)
