import logging
import os

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("engram")
# Set by `manage.py serve` for the processes it starts: its banner names the stack for all.
SUPERVISED_ENV = "ENGRAM_SUPERVISED"


def describe_stack() -> str:
    """One line naming what this process runs on, so nobody has to guess."""
    database = (
        f"embedded PostgreSQL 18 in {settings.DATA_DIR / 'pg'}"
        if settings.EMBEDDED_DATABASE
        else "PostgreSQL at DATABASE_URL"
    )
    if settings.REDIS_URL:
        rest = "Redis at REDIS_URL (Celery broker, channel layer, cache)"
    else:
        rest = "no Redis: in-memory channel layer, local-memory cache, Celery tasks run in-process"
    stack = f"Engram {settings.ENGRAM_VERSION} ({settings.ENVIRONMENT}) on {database}; {rest}"
    return f"{stack}; {describe_mail()}"


def describe_mail() -> str:
    """Where the mail this server sends (verification and password reset links) goes."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend == "smtp":
        return f"mail: SMTP at {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    if backend == "console":
        return "mail: printed here (set EMAIL_URL to send it)"
    return f"mail: {settings.EMAIL_BACKEND}"


def announce_stack() -> None:
    """Log the stack line once per service start: by each server or worker process started on
    its own, by nobody else (`serve`'s banner prints it for the processes it starts)."""
    if not os.environ.get(SUPERVISED_ENV):
        logger.info(describe_stack())


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core import (
            checks,  # noqa: F401  registers the deployment checks
            metrics,
            numeric,
        )

        metrics.connect_celery_signals()
        numeric.blas_single_threaded()
