"""Enqueueing background work: only once the caller's transaction has committed, and never at
the cost of a write that has committed.

A broker that is down (Redis stopped or restarting) must not turn a saved memory, bulk, job or
chat turn into an error the client retries (and duplicates). The work is left where the sweep
that retries it finds it, the caller records why (``on_failure``), and the log says so once per
outage rather than once per request.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)
# After a failed send, later sends skip the broker this long: each attempt can take seconds
# (connection timeout and retries), and a request should not wait that long again and again.
BROKER_RETRY_AFTER_SECONDS = 15.0


class _BrokerState:
    """Whether the last send failed, why, and until when sends go straight to ``on_failure``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.reason = ""

    def skip_reason(self) -> str | None:
        with self.lock:
            return self.reason if time.monotonic() < self.down_until else None

    def failed(self, reason: str) -> bool:
        """Record a failure; True when it starts an outage (the one to log)."""
        with self.lock:
            first = not self.reason
            self.reason, self.down_until = reason, time.monotonic() + BROKER_RETRY_AFTER_SECONDS
            return first

    def succeeded(self) -> bool:
        """Record a success; True when it ends an outage."""
        with self.lock:
            ended, self.reason, self.down_until = bool(self.reason), "", 0.0
            return ended


_broker = _BrokerState()


def enqueue_after_commit(
    task_name: str,
    *args: Any,
    countdown: float | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> None:
    """Send the task registered as ``task_name`` with ``args`` once the current transaction
    commits (at once outside one); a rolled-back write enqueues nothing.

    Tasks are named rather than imported, so a service never imports the tasks that call it:
    each app's ``AppConfig.ready`` imports its tasks module, which registers them.
    ``countdown``: seconds the task waits before it runs. A failure to send never fails the
    caller (see ``enqueue_or_leave``).
    """
    transaction.on_commit(
        lambda: enqueue_or_leave(task_name, *args, countdown=countdown, on_failure=on_failure)
    )


def enqueue_or_leave(
    task_name: str,
    *args: Any,
    countdown: float | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> bool:
    """Send the task now; True if it was sent. When the broker cannot take it, nothing is
    raised: ``on_failure(reason)`` records why where the work's sweep will find it, and the
    first failure of an outage is logged (its end too)."""
    reason = _broker.skip_reason()
    if reason is None:
        try:
            enqueue(task_name, *args, countdown=countdown)
        except Exception as exc:  # kombu's OperationalError, redis errors, a broken transport
            reason = f"the task queue is unavailable ({type(exc).__name__}: {exc})"
            if _broker.failed(reason):
                logger.warning(
                    "Background tasks cannot be queued: %s. Writes still succeed; their work "
                    "waits for the periodic sweep. Not repeated until the queue is back.",
                    reason,
                )
        else:
            if _broker.succeeded():
                logger.warning("Background tasks are queued again.")
                # What this process left during the outage is queued now, not by a sweep later.
                recovery_sweeps_send()
            return True
    if on_failure is not None:
        try:
            on_failure(reason)
        except Exception:
            logger.exception("Recording why %s was not queued failed", task_name)
    return False


def recovery_sweeps_send() -> None:
    """Send the sweeps that queue again what a broker outage or a killed worker left behind
    (BROKER_RECOVERY_SWEEPS), now: for a process that finds the broker back."""
    for task_name, args in settings.BROKER_RECOVERY_SWEEPS.items():
        enqueue_or_leave(task_name, *args)


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send the task registered as ``task_name`` now: for work on rows committed earlier (a
    sweep re-enqueueing what was lost); a service that writes uses ``enqueue_after_commit``."""
    current_app.tasks[task_name].apply_async(args=args, countdown=countdown)


def runs_later_in_this_process() -> bool:
    """Whether a task sent now runs on this process's own background threads (no broker, the
    default stack): work a reader in this process may wait for."""
    return bool(current_app.conf.task_always_eager and settings.TASKS_IN_BACKGROUND)
