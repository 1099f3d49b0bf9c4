"""Process-wide objects built on first use, once even when many threads ask at the same moment.

``functools.cache`` stores a value only after its build returns: the requests that reach a cold
server process together (each on a thread of its own) would each build it. For the local
embedding model and the tiktoken tables that is tens of MB of transient allocations and about
half a second of CPU per thread; freed, the memory stays with the process as free space in
glibc's arenas. Two processes meeting 500 streams cold kept 1.5 to 2 GB each (bench/README.md, chat
streaming, wave 3). Here the first caller builds and the others wait for its value.
"""

import functools
import threading
from collections.abc import Callable, Hashable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class BuiltOnce(Generic[P, T]):
    """``build``'s result per distinct arguments (hashable), built by one thread at a time."""

    def __init__(self, build: Callable[P, T]) -> None:
        functools.update_wrapper(self, build)
        self._build = build
        self._built: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (args, tuple(sorted(kwargs.items())))
        try:
            return self._built[key]  # built already: no lock on the way every call takes
        except KeyError:
            pass
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(*args, **kwargs)
            return self._built[key]

    def cache_clear(self) -> None:
        """Forget every value (the next call builds again), as ``functools.cache`` does."""
        with self._lock:
            self._built.clear()


def built_once(build: Callable[P, T]) -> BuiltOnce[P, T]:
    """Decorator: ``build`` runs once per distinct arguments per process, however many threads
    call it together; a build that raises stores nothing, so the next call tries again."""
    return BuiltOnce(build)
