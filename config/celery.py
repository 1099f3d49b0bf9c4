"""The Celery app. Without a broker (no REDIS_URL) tasks run in the calling process: on its
background threads (TASKS_IN_BACKGROUND, the default), so a request that enqueues work answers
without waiting for it, or inline; and the web process plays Celery beat too (InProcessBeat),
so periodic tasks, the sweeps that recover work a dead process held among them, still run."""

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from celery import Celery, Task, bootsteps
from celery.signals import setup_logging, worker_ready
from django.conf import settings
from django.db import connections
from kombu import pools

from core.apps import announce_stack
from core.tasks import recovery_sweeps_send, runs_later_in_this_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)


class InProcessTasks:
    """Background threads (TASKS_IN_PROCESS_THREADS) that run the tasks of a process without a
    broker, in the order sent; like a worker's processes, they may run side by side (tasks are
    safe to run concurrently). The model releases the GIL, so two threads embed on two cores."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, run: Callable[[], object]) -> None:
        with self._changed:
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    settings.TASKS_IN_PROCESS_THREADS, thread_name_prefix="engram-tasks"
                )
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


class InProcessBeat:
    """Celery beat for a process without a broker: every task of ``schedule`` (the shape of
    CELERY_BEAT_SCHEDULE) is sent once at start, then every ``schedule`` seconds, to the
    background threads. Tasks a dead process held in its queue are lost with it; the sweeps
    among these find their rows (still pending, still queued) and send them again."""

    def __init__(self, schedule: dict[str, dict]) -> None:
        self._schedule = schedule
        self._due = dict.fromkeys(schedule, 0.0)

    def tick(self, now: float) -> list[str]:
        """Send the tasks due at ``now`` (a ``time.monotonic()`` reading); their names."""
        sent = []
        for name, entry in self._schedule.items():
            if now < self._due[name]:
                continue
            self._due[name] = now + float(entry["schedule"])
            try:
                app.tasks[entry["task"]].apply_async(entry.get("args"), entry.get("kwargs"))
            except Exception:
                logger.exception("The periodic task %s could not be sent", name)
            else:
                sent.append(name)
        return sent

    def run_forever(self) -> None:
        # What a worker does at start: every app's tasks module imported, so each task is known.
        # On this thread: Celery's Django fixup touches the database, which the event loop's
        # thread (a server's lifespan) may not.
        app.loader.import_default_modules()
        while True:
            self.tick(time.monotonic())
            time.sleep(1.0)


def start_in_process_beat() -> threading.Thread | None:
    """In a server process without a broker whose tasks run in the background: a daemon thread
    playing beat (``InProcessBeat``). With a broker, `manage.py serve` runs the real beat;
    with tasks inline (TASKS_IN_BACKGROUND false, the test servers) nothing is started."""
    if not runs_later_in_this_process():
        return None
    beat = InProcessBeat(settings.CELERY_BEAT_SCHEDULE)
    thread = threading.Thread(target=beat.run_forever, name="engram-beat", daemon=True)
    thread.start()
    return thread


class EngramTask(Task):
    def apply_async(self, args=None, kwargs=None, **options):
        if runs_later_in_this_process():
            # Celery's eager mode would run it here, inside the request that enqueued it.
            parent = super()
            in_process_tasks.submit(lambda: parent.apply_async(args, kwargs, **options))
            return None
        return super().apply_async(args, kwargs, **options)


class RecoverySweeps(bootsteps.StartStopStep):
    """Each time the worker's consumer has connected to the broker (at start, and again after
    a lost connection: Celery restarts the consumer's steps), the recovery sweeps are sent
    (core.tasks.recovery_sweeps_send), so work an outage or a killed worker left pending is
    queued again at once."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent) -> None:
        recovery_sweeps_send()


app = Celery("engram", task_cls=EngramTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(RecoverySweeps)


@worker_ready.connect
def _announce_stack(**kwargs) -> None:
    announce_stack()


@setup_logging.connect
def _keep_django_logging(**kwargs) -> None:
    """Celery replaces the root logger's handlers with its own unless this signal is answered:
    answered, Django's LOGGING (settings) stays, and a worker's lines go through the same
    redacting formatter as the web server's (credentials in a task's error are scrubbed)."""


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
