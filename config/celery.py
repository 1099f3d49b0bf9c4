"""The Celery app. Without a broker (no REDIS_URL) tasks run eagerly in the calling process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def use_broker(broker_url: str | None, *, default_queue: str = "celery") -> None:
    """Send this process's tasks to ``broker_url`` (None: run them in-process again).

    For tests and benchmarks that start a worker of their own: the connection pools are
    dropped (as Celery does after a fork) so the next task goes to the new broker.
    """
    app.conf.update(
        broker_url=broker_url,
        task_always_eager=broker_url is None,
        task_default_queue=default_queue,
    )
    if app._pool is not None:
        app._pool.force_close_all()
    app._after_fork()
