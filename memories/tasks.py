"""Background work on memories. Tasks take ids, fetch, and call a service; each is safe to run
twice (the services re-check state under a lock or compare-and-set before writing)."""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from memories import extraction, services, unembedded
from memories.selectors import extraction_jobs_stale, memories_pending_stale
from providers.embeddings import EmbeddingRejected, EmbeddingUnavailable

logger = logging.getLogger(__name__)


def _backoff_seconds(retries: int) -> float:
    # 5 s, 10 s, 20 s ... capped at 10 minutes, with jitter so retries do not arrive together.
    return min(5 * 2**retries, 600) * random.uniform(0.8, 1.2)


@shared_task(
    name="memories.embed",
    bind=True,
    max_retries=None,  # counted against EMBEDDING_MAX_RETRIES below, read at run time
    acks_late=True,
    time_limit=300,
    soft_time_limit=270,
)
def embed_memories(self, memory_ids: list[str]) -> int:
    """Embed the memories ``memory_ids`` that still need it; retried with backoff on provider
    failures, then marked failed with the reason."""
    try:
        return services.memories_embed(memory_ids=memory_ids)
    except EmbeddingRejected as exc:
        logger.warning("Embedding refused for %d memories: %s", len(memory_ids), exc)
        services.memories_mark_failed(memory_ids=memory_ids, reason=str(exc))
        return 0
    except EmbeddingUnavailable as exc:
        if self.request.retries >= settings.EMBEDDING_MAX_RETRIES:
            logger.warning("Embedding failed after %d retries: %s", self.request.retries, exc)
            services.memories_mark_failed(
                memory_ids=memory_ids, reason=f"{exc} (after {self.request.retries} retries)"
            )
            return 0
        raise self.retry(exc=exc, countdown=_backoff_seconds(self.request.retries)) from exc
    finally:
        unembedded.done(memory_ids)  # a search waiting for them goes on


@shared_task(name="memories.embed_sweep", acks_late=True, time_limit=120, soft_time_limit=110)
def embed_sweep(older_than_seconds: int | None = None) -> int:
    """Re-enqueue memories whose embedding task was lost: pending for longer than
    ``older_than_seconds`` (MEMORY_PENDING_SWEEP_AFTER_SECONDS unless given)."""
    if older_than_seconds is None:
        older_than_seconds = settings.MEMORY_PENDING_SWEEP_AFTER_SECONDS
    ids = memories_pending_stale(older_than_seconds=older_than_seconds)
    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), size):
        embed_memories.delay([str(pk) for pk in ids[start : start + size]])
    return len(ids)


@shared_task(
    name="memories.build_vector_index", acks_late=True, time_limit=3600, soft_time_limit=3500
)
def build_vector_index(index_id: int) -> bool:
    """Build one user's partial HNSW index (about 35 s per 100k vectors on 2 cores)."""
    return services.vector_index_build(index_id=index_id)


@shared_task(
    name="memories.drop_vector_indexes", acks_late=True, time_limit=300, soft_time_limit=270
)
def drop_vector_indexes(user_id: str) -> int:
    return services.vector_indexes_drop_for_user(user_id=user_id)


@shared_task(name="memories.refresh_summary", acks_late=True, time_limit=120, soft_time_limit=110)
def refresh_summary(user_id: str) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        logger.info("Summary for missing user %s skipped", user_id)
        return
    services.summary_refresh(user=user)


@shared_task(name="memories.write_summary", ignore_result=True, time_limit=120, soft_time_limit=110)
def write_summary(user_id: str) -> None:
    """Have the user's model write their memory profile (``services.summary_write``)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        logger.info("Profile for missing user %s not written", user_id)
        return
    services.summary_write(user=user)


@shared_task(
    name="memories.extract", ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=270
)
def extract_memories(job_id: str) -> None:
    """Run the extraction job ``job_id``: requested, automatic (after a chat exchange or a
    completed capture) or a re-run; the job holds its conversation. A job already run, or
    running elsewhere, is left alone (``extraction.extraction_job_run`` claims it with a
    compare-and-set)."""
    extraction.extraction_job_run(job_id=job_id)


@shared_task(
    name="memories.extraction_sweep", ignore_result=True, time_limit=120, soft_time_limit=110
)
def extraction_sweep(queued_for_seconds: int | None = None) -> int:
    """Re-enqueue extraction jobs whose task was lost: queued for longer than
    ``queued_for_seconds`` (MEMORY_PENDING_SWEEP_AFTER_SECONDS unless given), or claimed by a
    worker that never finished."""
    if queued_for_seconds is None:
        queued_for_seconds = settings.MEMORY_PENDING_SWEEP_AFTER_SECONDS
    now = timezone.now()
    ids = extraction_jobs_stale(
        queued_before=now - timedelta(seconds=queued_for_seconds),
        running_before=now - timedelta(seconds=settings.MEMORY_EXTRACTION_STALE_SECONDS),
    )
    return extraction.extraction_jobs_recover(job_ids=ids) if ids else 0


@shared_task(
    name="memories.term_statistics_sweep", ignore_result=True, time_limit=600, soft_time_limit=570
)
def term_statistics_sweep() -> int:
    """Refresh heavy users' word statistics that grew or aged (services/term_statistics.py)."""
    return services.term_statistics_sweep()
