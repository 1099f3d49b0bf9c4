"""Work a process does beside its requests, on a thread of its own."""

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import connections

logger = logging.getLogger(__name__)


class BackgroundThread:
    """One worker thread per process, made on first use, running what is submitted in turn. A
    forked child (a Celery worker, a preloading server) makes its own: a parent's threads do
    not survive a fork."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None

    def submit(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``work(*args, **kwargs)`` on the thread: a failure is logged (no request waits
        for it to raise), and the database connections it opened are closed after."""
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():
                self._pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix=self._name))
            pool = self._pool[1]
        return pool.submit(_logged, work, *args, **kwargs)


def _logged(work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    try:
        work(*args, **kwargs)
    except Exception:
        logger.exception("Background work failed: %s", getattr(work, "__qualname__", work))
    finally:
        connections.close_all()
