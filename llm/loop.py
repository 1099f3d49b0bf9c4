"""The event loop sync code (tasks, model pulls) runs its LLM calls on.

One loop per process, kept for the process's life: the gateway's HTTP pool belongs to the loop
it was first used on, so a fresh loop per call (``async_to_sync``) would build a pool, connect
and tear both down for every completion.
"""

import asyncio
import os
import threading
from concurrent.futures import Future
from typing import Any


class _BackgroundLoop:
    """One daemon thread running an event loop for this process's background LLM work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # A forked child (a Celery worker process) has no copy of the thread: it starts its own.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._loop = None

    def submit(self, coroutine: Any) -> Future:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="engram-llm", daemon=True
                ).start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)


background_loop = _BackgroundLoop()
