"""Reads of memories, each scoped to its owner: single memories, lists, history, stats,
export, the summary, and extraction jobs."""

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from billing.tiers import allowance
from core.errors import NotFound
from core.ownership import get_owned_object, owned_id
from core.pagination import Page, paginate
from memories.filters import MemoryFilters, memory_filter_q
from memories.models import (
    EmbeddingStatus,
    ExtractionJob,
    HistoryEvent,
    JobStatus,
    Memory,
    MemoryChunk,
    MemoryHistory,
    MemorySummary,
    Provider,
    Source,
    UserVectorIndex,
)

# --- Single memories and lists -------------------------------------------------------------------


def memory_get(*, user: User, memory_id: Any) -> Memory:
    """The memory ``memory_id`` of ``user``; NotFound for another's, a missing or a malformed id."""
    return get_owned_object(Memory.objects.all(), owner=user, pk=memory_id)


def memories_by_id(*, owners: Sequence[User], memory_ids: Iterable[Any]) -> dict[str, Memory]:
    """Those of ``memory_ids`` that are memories of one of ``owners`` (a person and the team
    spaces they read), by id as text; malformed, another's and deleted ones are left out."""
    keys = []
    for memory_id in memory_ids:
        try:
            keys.append(owned_id(memory_id, name="memory"))
        except NotFound:
            continue
    return {str(m.pk): m for m in Memory.objects.filter(user__in=owners, pk__in=keys)}


def memory_page(
    *, user: User, filters: MemoryFilters, cursor: str | None, limit: int
) -> Page[Memory]:
    """``user``'s memories matching ``filters``, newest first, one keyset page at a time."""
    queryset = Memory.objects.filter(user=user).filter(memory_filter_q(filters))
    return paginate(queryset, cursor=cursor, limit=limit)


def memory_history_page(
    *, user: User, memory_id: Any, cursor: str | None, limit: int
) -> Page[MemoryHistory]:
    """The history of one of ``user``'s memories, oldest event first; deleted memories too."""
    key = owned_id(memory_id, name="memory")
    events = MemoryHistory.objects.filter(user=user, memory_id=key)
    page = paginate(events, cursor=cursor, limit=limit, descending=False)
    if not page.items and not cursor and not events.exists():
        raise NotFound("No memory with this id.")
    return page


def memory_known(*, user: User, memory_id: Any) -> uuid.UUID:
    """The id of a memory of ``user``'s that has a history, existing or removed since;
    NotFound for another's, a missing or a malformed id."""
    key = owned_id(memory_id, name="memory")
    if not MemoryHistory.objects.filter(user=user, memory_id=key).exists():
        raise NotFound("No memory with this id.")
    return key


# How many merges in a row a merged-away id is followed through.
MERGE_HOPS = 10


def memory_merged_survivor(*, user: User, memory_id: Any) -> Memory | None:
    """The memory that ``user``'s removed memory ``memory_id`` was merged into (following the
    survivor's own later merges), or None when it was not merged away or nothing survives.
    A client that was given the old id can still read what became of it."""
    key = owned_id(memory_id, name="memory")
    for _ in range(MERGE_HOPS):
        removal = (
            MemoryHistory.objects.filter(user=user, memory_id=key).order_by("-created_at").first()
        )
        # The folded side of a merge has no new content; the survivor's side keeps its text.
        if removal is None or removal.event != HistoryEvent.MERGE or removal.new_content:
            return None
        if removal.related_memory_id is None:
            return None
        survivor = Memory.objects.filter(user=user, pk=removal.related_memory_id).first()
        if survivor is not None:
            return survivor
        key = removal.related_memory_id
    return None


def memories_export(*, user: User, batch_size: int = 500) -> Iterator[Memory]:
    """Every memory of ``user``, oldest first, read in keyset batches (constant memory)."""
    cursor = None
    while True:
        page = paginate(
            Memory.objects.filter(user=user), cursor=cursor, limit=batch_size, descending=False
        )
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def memories_pending_stale(*, older_than_seconds: int, limit: int = 5000) -> list[uuid.UUID]:
    """Ids of memories pending for longer than ``older_than_seconds`` (their task was lost)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        Memory.objects.filter(embedding_status=EmbeddingStatus.PENDING, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def memory_authors_since(*, since: datetime, limit: int = 10_000) -> list[uuid.UUID]:
    """Ids of the users who saved a memory at or after ``since`` (the recently active), at most
    ``limit`` of them. One pass over the memories: for daily jobs, not for requests."""
    return list(
        Memory.objects.filter(created_at__gte=since)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()[:limit]
    )


# --- Stats and summary ---------------------------------------------------------------------------


def _counts_by(queryset: QuerySet[Memory], name: str) -> dict[str, int]:
    rows = queryset.order_by().values_list(name).annotate(count=Count("pk"))
    return dict(sorted(rows, key=lambda row: (-row[1], row[0])))


def memory_stats(*, user: User) -> dict[str, Any]:
    """Counts of ``user``'s memories by provider, source and embedding status, storage used,
    and the plan's limits."""
    memories = Memory.objects.filter(user=user)
    used = memory_usage(user=user)
    return {
        "total": used["memories"],
        "by_provider": _counts_by(memories, "provider"),
        "by_source": _counts_by(memories, "source"),
        "by_status": _counts_by(memories, "embedding_status"),
        "storage_bytes": used["memory_storage_bytes"],
        "limits": {
            name: allowance(user, name, used=count, adding=0).limit for name, count in used.items()
        },
    }


def memory_usage(*, user: User) -> dict[str, int]:
    """How many memories ``user`` has and the bytes they take, by the tier feature's name: what
    billing's usage answer reads (wired in BILLING_USAGE_METERS, so billing never imports
    memories)."""
    return Memory.objects.filter(user=user).aggregate(
        memories=Count("pk"), memory_storage_bytes=Coalesce(Sum("size_bytes"), 0)
    )


def memories_overview() -> dict[str, Any]:
    """Operator view of every user's memories (``manage.py memories_stats``)."""
    memories = Memory.objects.all()
    totals = memories.aggregate(
        count=Count("pk"), users=Count("user", distinct=True), size=Coalesce(Sum("size_bytes"), 0)
    )
    stale = len(
        memories_pending_stale(older_than_seconds=settings.MEMORY_PENDING_SWEEP_AFTER_SECONDS)
    )
    return {
        "memories": totals["count"],
        "users": totals["users"],
        "storage_bytes": totals["size"],
        "pending_past_sweep_age": stale,
        "by_status": _counts_by(memories, "embedding_status"),
        "by_provider": _counts_by(memories, "provider"),
        "by_source": _counts_by(memories, "source"),
        "by_model": _counts_by(memories, "embedding_model"),
        "vectors_by_model": _counts_by(MemoryChunk.objects.all(), "model"),
        "user_vector_indexes": _counts_by(UserVectorIndex.objects.all(), "status"),
    }


def memory_summary_facts(*, user: User) -> dict[str, Any]:
    """What the summary is built from: counts, date range, where they came from, top tags, and
    the most important and most recent memories (plain JSON data)."""
    memories = Memory.objects.filter(user=user)
    totals = memories.aggregate(count=Count("pk"), first=Min("created_at"), last=Max("created_at"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tag, count(*) FROM {Memory._meta.db_table}, unnest(tags) AS tag "
            "WHERE user_id = %s GROUP BY tag ORDER BY 2 DESC, 1 LIMIT 10",
            [user.pk],
        )
        top_tags = [row[0] for row in cursor.fetchall()]

    def items(queryset: QuerySet[Memory]) -> list[dict[str, str]]:
        rows = queryset.values_list("pk", "title", "content")[:3]
        return [{"id": str(pk), "text": title or content[:500]} for pk, title, content in rows]

    return {
        "memory_count": totals["count"],
        "first_at": totals["first"].isoformat() if totals["first"] else None,
        "last_at": totals["last"].isoformat() if totals["last"] else None,
        "providers": _counts_by(memories, "provider"),
        "origins": _origins(memories),
        "top_tags": top_tags,
        "important": items(memories.order_by("-importance", "-created_at")),
        "recent": items(memories.order_by("-created_at")),
    }


def _origins(memories: QuerySet[Memory]) -> dict[str, int]:
    """Where ``memories`` came from, as a person would say it, most first: the assistant a
    capture is from ("ChatGPT"), otherwise the door it came through ("Web app", "Import")."""
    rows = memories.order_by().values_list("provider", "source").annotate(count=Count("pk"))
    counts: dict[str, int] = {}
    for provider, source, count in rows:
        if provider in Provider.values and provider not in (Provider.API, Provider.OTHER):
            name = Provider(provider).label
        else:
            name = Source(source).label if source in Source.values else source
        counts[name] = counts.get(name, 0) + count
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def memory_summary_sources(*, user: User, limit: int) -> list[dict[str, str]]:
    """What the model writes the profile from: up to ``limit`` memories of ``user``, the most
    important half and the most recent half (``{"id", "text"}``, oldest first)."""
    memories = Memory.objects.filter(user=user)
    fields = ("pk", "title", "content", "created_at")
    important = list(
        memories.order_by("-importance", "-created_at").values_list(*fields)[: limit // 2]
    )
    seen = {row[0] for row in important}
    recent = [
        row
        for row in memories.order_by("-created_at").values_list(*fields)[:limit]
        if row[0] not in seen
    ][: limit - len(important)]
    rows = sorted(important + recent, key=lambda row: row[3])
    return [{"id": str(pk), "text": title or content} for pk, title, content, _ in rows]


def memory_summary_get(*, user: User) -> MemorySummary | None:
    return MemorySummary.objects.filter(user=user).first()


# --- Extraction jobs -----------------------------------------------------------------------------


def extraction_job_get(*, user: User, job_id: Any) -> ExtractionJob:
    """The extraction job ``job_id`` of ``user``; NotFound for another's, a missing or a
    malformed id."""
    return get_owned_object(ExtractionJob.objects.all(), owner=user, pk=job_id)


def extraction_jobs_recent(*, user: User, limit: int = 20) -> list[ExtractionJob]:
    """``user``'s newest extraction jobs, those still queued or running first: what the
    conversations they read produced, or is about to."""
    pending = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    jobs = ExtractionJob.objects.filter(user=user)
    return list(jobs.filter(pending).order_by("-created_at")[:limit]) + list(
        jobs.exclude(pending).order_by("-created_at")[:limit]
    )


def extraction_jobs_stale(*, queued_before: datetime, running_before: datetime) -> list[uuid.UUID]:
    """Jobs whose task was lost: queued since before ``queued_before``, or claimed by a worker
    before ``running_before`` and never finished."""
    return list(
        ExtractionJob.objects.filter(
            Q(status=JobStatus.QUEUED, created_at__lt=queued_before)
            | Q(status=JobStatus.RUNNING, started_at__lt=running_before)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    )
