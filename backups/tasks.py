"""Periodic upkeep of encrypted storage (declared in settings.CELERY_BEAT_SCHEDULE)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from backups import services

logger = logging.getLogger(__name__)


@shared_task(name="storage.prune", ignore_result=True)
def storage_prune() -> None:
    """Keep each user's BACKUP_KEEP newest backups; abort resumable uploads left unfinished for
    BACKUP_UPLOAD_EXPIRE_HOURS; remove what interrupted writes left behind more than
    STORAGE_ORPHAN_HOURS ago. Safe to run twice."""
    pruned, expired = services.backups_prune(
        keep=settings.BACKUP_KEEP,
        upload_expiry=timedelta(hours=settings.BACKUP_UPLOAD_EXPIRE_HOURS),
    )
    swept = services.storage_orphans_sweep(
        older_than=timedelta(hours=settings.STORAGE_ORPHAN_HOURS)
    )
    if pruned or expired or swept:
        logger.info(
            "Pruned %d backups, %d unfinished uploads and %d leftovers.",
            pruned,
            expired,
            len(swept),
        )


@shared_task(name="storage.purge_user", ignore_result=True)
def storage_purge_user(user_id: str) -> None:
    """Delete the blobs of a deleted user. Safe to run twice: nothing left is nothing to do."""
    services.storage_user_purge(user_id=user_id)


@shared_task(
    name="storage.build_vector_index", acks_late=True, time_limit=3600, soft_time_limit=3500
)
def build_vector_index(user_id: str, dimensions: int) -> bool:
    """Build one user's partial HNSW index over their client-side vectors. Safe to run twice."""
    return services.vector_index_build(user_id=user_id, dimensions=dimensions)


@shared_task(
    name="storage.drop_vector_indexes", acks_late=True, time_limit=300, soft_time_limit=270
)
def drop_vector_indexes(user_id: str) -> int:
    """Drop a user's vector indexes their collection no longer needs. Safe to run twice."""
    return services.vector_indexes_drop_stale(user_id=user_id)
