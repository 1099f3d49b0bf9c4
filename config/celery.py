"""The Celery app. Without a broker (no REDIS_URL) tasks run in the calling process: on one
background thread (TASKS_IN_BACKGROUND, the default), so a request that enqueues work answers
without waiting for it, or inline."""

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from celery import Celery, Task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connections
from kombu import pools

from core.apps import announce_stack

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)


class InProcessTasks:
    """One background thread that runs the tasks of a process without a broker, in order."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, run: Callable[[], object]) -> None:
        with self._changed:
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="engram-tasks")
        self._executor.submit(self._run, run)

    def _run(self, run: Callable[[], object]) -> None:
        try:
            run()
        except Exception:
            logger.exception("An in-process task failed")
        finally:
            # The thread's connections go back to the pool between tasks, as a worker's do.
            connections.close_all()
            with self._changed:
                self._pending -= 1
                self._changed.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every task submitted so far (and those they submitted) has run; False if
        ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)


in_process_tasks = InProcessTasks()


class EngramTask(Task):
    def apply_async(self, args=None, kwargs=None, **options):
        if self.app.conf.task_always_eager and settings.TASKS_IN_BACKGROUND:
            # Celery's eager mode would run it here, inside the request that enqueued it.
            parent = super()
            in_process_tasks.submit(lambda: parent.apply_async(args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)


app = Celery("engram", task_cls=EngramTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _announce_stack(**kwargs) -> None:
    announce_stack()


def _drop_connections() -> None:
    # What Celery does after a fork: kombu's process-wide pools are closed and forgotten, so
    # the next task opens a connection with the current configuration.
    pools.reset()
    app._after_fork()


@contextmanager
def sending_to(broker_url: str, *, queue: str):
    """Within the block, this process sends its tasks to ``broker_url``'s ``queue`` instead of
    running them in-process: for tests and benchmarks that start a worker of their own."""
    keys = ("broker_url", "task_always_eager", "task_default_queue")
    previous = {key: app.conf[key] for key in keys}
    app.conf.update(broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
    _drop_connections()
    try:
        yield
    finally:
        app.conf.update(previous)
        _drop_connections()
