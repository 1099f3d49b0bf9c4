import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("engram")


def describe_stack() -> str:
    """One line naming what this process runs on, so nobody has to guess."""
    database = (
        f"embedded pgserver PostgreSQL in {settings.DATA_DIR / 'pg'}"
        if settings.EMBEDDED_DATABASE
        else "PostgreSQL at DATABASE_URL"
    )
    if settings.REDIS_URL:
        rest = "Redis at REDIS_URL (Celery broker, channel layer, cache)"
    else:
        rest = "no Redis: in-memory channel layer, local-memory cache, Celery tasks run in-process"
    return f"Engram {settings.ENGRAM_VERSION} ({settings.ENVIRONMENT}) on {database}; {rest}"


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core import metrics

        metrics.connect_celery_signals()
        logger.info(describe_stack())
