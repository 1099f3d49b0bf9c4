"""Enqueueing background work: only once the caller's transaction has committed."""

from typing import Any

from celery import current_app
from django.db import transaction


def enqueue_after_commit(
    task_name: str, *args: Any, countdown: float | None = None, robust: bool = False
) -> None:
    """Send the task registered as ``task_name`` with ``args`` once the current transaction
    commits (at once outside one); a rolled-back write enqueues nothing.

    Tasks are named rather than imported, so a service never imports the tasks that call it:
    each app's ``AppConfig.ready`` imports its tasks module, which registers them.
    ``countdown``: seconds the task waits before it runs. ``robust``: a failure to enqueue is
    logged instead of raised (the caller's write stands).
    """
    transaction.on_commit(lambda: enqueue(task_name, *args, countdown=countdown), robust=robust)


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send the task registered as ``task_name`` now: for work on rows committed earlier (a
    sweep re-enqueueing what was lost); a service that writes uses ``enqueue_after_commit``."""
    current_app.tasks[task_name].apply_async(args=args, countdown=countdown)
