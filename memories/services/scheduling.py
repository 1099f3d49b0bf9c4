"""Every background task memories starts, enqueued after commit by task name.

The only module that enqueues memories' tasks: services and extraction call it, and the tasks
module calls them, so no service imports the tasks that call it.
"""

import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from core.tasks import enqueue, enqueue_after_commit, runs_later_in_this_process
from memories import unembedded
from memories.models import (
    EmbeddingStatus,
    ExtractionJob,
    JobStatus,
    Memory,
    MemorySummary,
    UserVectorIndex,
)
from memories.services.extraction_jobs import extraction_job_auto_new


def _left_for_sweep(reason: str) -> str:
    return f"Not queued yet: {reason}. The periodic sweep queues it again."


def _record_embedding_left(memory_ids: Sequence[str]) -> Callable[[str], None]:
    # The memories stay pending, which is what the embedding sweep looks for; the reason shows
    # in their embedding_error until they are embedded (which clears it).
    def record(reason: str) -> None:
        Memory.objects.filter(pk__in=memory_ids, embedding_status=EmbeddingStatus.PENDING).update(
            embedding_error=_left_for_sweep(reason)
        )

    return record


def embedding_schedule(*, memory_ids: Sequence[Any]) -> None:
    """Embed ``memory_ids`` in the background, in batches of EMBEDDING_BATCH_SIZE. When the
    queue is down they stay pending, with the reason in ``embedding_error``, for the sweep."""
    ids = [str(pk) for pk in memory_ids]
    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        enqueue_after_commit("memories.embed", batch, on_failure=_record_embedding_left(batch))


def followups_schedule(*, user_id: uuid.UUID, embed: Sequence[uuid.UUID] = ()) -> None:
    """Once the caller's transaction commits: embed ``embed`` and refresh the summary."""
    if 0 < len(embed) <= unembedded.WAITED_FOR_AT_MOST and runs_later_in_this_process():
        # Before the task is sent (callbacks run in order): it may end before the next line.
        transaction.on_commit(lambda: unembedded.handed_over(user_id, embed))
    embedding_schedule(memory_ids=embed)
    transaction.on_commit(lambda: summary_schedule(user_id=user_id))


def _summary_pending_key(user_id: Any) -> str:
    return f"memories:summary-pending:{user_id}"


def summary_schedule(*, user_id: Any) -> None:
    """Mark the summary stale, count the change (toward the model's rewrite) and recompute it
    after MEMORY_SUMMARY_DELAY_SECONDS; changes in between share one recomputation."""
    MemorySummary.objects.filter(user_id=user_id).update(
        stale=True, changes_since_written=F("changes_since_written") + 1
    )
    delay = settings.MEMORY_SUMMARY_DELAY_SECONDS
    try:
        first = cache.add(_summary_pending_key(user_id), 1, timeout=delay + 300)
    except Exception:  # the cache is the Redis that is down: the summary stays marked stale
        return
    if first:
        enqueue_after_commit(
            "memories.refresh_summary",
            str(user_id),
            countdown=delay,
            on_failure=lambda reason: summary_pending_clear(user_id=user_id),
        )


def summary_write_schedule(*, user_id: Any) -> None:
    """Once the caller's transaction commits: have the user's model write their profile. A
    queue that is down loses nothing: the next change asks again (its changes still count)."""
    enqueue_after_commit("memories.write_summary", str(user_id))


def summary_pending_clear(*, user_id: Any) -> None:
    """The summary is being recomputed now (or its task could not be queued): the next change
    schedules a new recomputation."""
    with contextlib.suppress(Exception):  # a cache that is down forgets the key by its timeout
        cache.delete(_summary_pending_key(user_id))


def vector_index_build_schedule(*, index_id: int) -> None:
    enqueue_after_commit("memories.build_vector_index", index_id)


def vector_indexes_drop_schedule(*, user_id: uuid.UUID) -> None:
    """Drop the user's per-user indexes in the background, if they have any."""
    if UserVectorIndex.objects.filter(user_id=user_id).exists():
        enqueue_after_commit("memories.drop_vector_indexes", str(user_id))


def extraction_jobs_enqueue(*, job_ids: Sequence[uuid.UUID], committed: bool = False) -> None:
    """Run the extraction jobs ``job_ids`` in the background, once the caller's transaction
    commits; ``committed``: the jobs were committed earlier (a recovery), enqueue them now."""
    for job_id in job_ids:
        if committed:
            enqueue("memories.extract", str(job_id))
        else:
            enqueue_after_commit(
                "memories.extract", str(job_id), on_failure=_record_job_left(job_id)
            )


def _record_job_left(job_id: Any) -> Callable[[str], None]:
    # The job stays queued, which is what the extraction sweep looks for; ``error`` says why
    # until it runs (a run sets its own outcome).
    def record(reason: str) -> None:
        ExtractionJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            error=_left_for_sweep(reason)
        )

    return record


def extraction_schedule(
    *,
    user_id: Any,
    messages: list[dict[str, str]],
    trigger: str,
    agent_id: str = "",
    session_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Extract facts from ``messages`` in the background if the user has ``auto_extract`` on
    and an LLM is available (else nothing is stored, and the reason is logged).

    The job is stored now, with the conversation; the queue carries only its id, once the
    caller's transaction commits, and a job whose task was lost is found by the sweep.
    """
    job = extraction_job_auto_new(
        user_id=user_id,
        messages=messages,
        trigger=trigger,
        agent_id=agent_id,
        session_id=session_id,
        metadata=metadata,
    )
    if job is not None:
        extraction_jobs_enqueue(job_ids=[job.pk])
