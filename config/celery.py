"""The Celery app. Without a broker (no REDIS_URL) tasks run eagerly in the calling process."""

import os
from contextlib import contextmanager

from celery import Celery
from kombu import pools

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
