"""Embedding memories into chunks, linking near duplicates, and the embedding bookkeeping."""

import struct
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from memories.chunking import chunk_spans
from memories.models import (
    EmbeddingStatus,
    Memory,
    MemoryChunk,
    UserVectorIndex,
)
from memories.services.duplicates import memories_link_near_duplicates
from memories.services.indexes import vector_index_drop, vector_indexes_ensure
from memories.services.scheduling import embedding_schedule
from providers.embeddings import Embedder, get_embedder

# --- Embedding -----------------------------------------------------------------------------------


def _needs_embedding(model: str, *, retry_failed: bool) -> Q:
    statuses = [EmbeddingStatus.PENDING]
    if retry_failed:
        statuses.append(EmbeddingStatus.FAILED)
    return Q(embedding_status__in=statuses) | ~Q(embedding_model=model)


def memories_embed(
    *,
    memory_ids: Sequence[Any],
    embedder: Embedder | None = None,
    retry_failed: bool = False,
) -> int:
    """Embed those of ``memory_ids`` that still need it with ``embedder``; returns how many.

    Safe to run twice and against concurrent edits: rows are re-checked under a lock before the
    write, and a memory whose content changed since it was read keeps its newer state (the edit
    enqueued its own embedding). Embedder errors propagate (the task retries them).

    Memories embedded for the first time whose vector is nearly identical to one already there
    (same user and scope) are then linked to it (``memories_link_near_duplicates``).
    """
    embedder = embedder or get_embedder()
    wanted = _needs_embedding(embedder.name, retry_failed=retry_failed)
    rows = list(
        Memory.objects.filter(wanted, pk__in=memory_ids).values(
            "pk", "user_id", "content", "embedded_at"
        )
    )
    if not rows:
        return 0
    plans = []
    texts: list[str] = []
    for row in rows:
        content = row["content"]
        spans = chunk_spans(
            embedder.token_spans(content),
            len(content),
            max_tokens=min(settings.MEMORY_CHUNK_TOKENS, embedder.max_tokens - 2),
            overlap=settings.MEMORY_CHUNK_OVERLAP_TOKENS,
        )
        plans.append((row, spans, len(texts)))
        texts.extend(content[start:end] for start, end in spans)
    vectors = embedder.embed(texts)

    with transaction.atomic():
        # Rows locked in id order, before their chunks: concurrent runs and edits cannot deadlock.
        current = dict(
            Memory.objects.select_for_update()
            .filter(wanted, pk__in=[row["pk"] for row in rows])
            .order_by("pk")
            .values_list("pk", "content")
        )
        # The text itself, not its hash: an edit of case or spacing keeps the hash.
        fresh = [plan for plan in plans if current.get(plan[0]["pk"]) == plan[0]["content"]]
        fresh_ids = [row["pk"] for row, _, _ in fresh]
        MemoryChunk.objects.filter(memory_id__in=fresh_ids, model=embedder.name).delete()
        _chunks_insert(
            (
                row["pk"],
                row["user_id"],
                embedder.name,
                position,
                start,
                end,
                vectors[offset + position],
            )
            for row, spans, offset in fresh
            for position, (start, end) in enumerate(spans)
        )
        Memory.objects.filter(pk__in=fresh_ids).update(
            embedding_status=EmbeddingStatus.READY,
            embedding_model=embedder.name,
            embedding_error="",
            embedded_at=timezone.now(),
        )
        user_ids = {row["user_id"] for row, _, _ in fresh}
        transaction.on_commit(lambda: vector_indexes_ensure(user_ids=user_ids, model=embedder.name))
    # Only single-chunk memories embedded for the first time: one vector stands for the whole
    # text, and a re-embedding is not a new memory.
    memories_link_near_duplicates(
        newcomers=[
            (row["pk"], vectors[offset], row["content"])
            for row, spans, offset in fresh
            if row["embedded_at"] is None and len(spans) == 1
        ],
        model=embedder.name,
    )
    return len(fresh)


def _chunks_insert(rows: Iterable[tuple[Any, Any, str, int, int, int, np.ndarray]]) -> None:
    """Insert chunk rows ``(memory id, user id, model, position, start, end, vector)`` with one
    binary COPY: a vector written as text (384 floats formatted, then parsed) cost more than
    the rest of its insert."""
    columns = 'memory_id, user_id, model, position, start, "end", embedding'
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {MemoryChunk._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        # A bytea field's bytes go to the column's own binary input: pgvector's is a dimension
        # and a reserved 16-bit word, then big-endian float4s.
        copy.set_types(["uuid", "uuid", "varchar", "int2", "int4", "int4", "bytea"])
        for *values, vector in rows:
            header = struct.pack(">HH", len(vector), 0)
            copy.write_row((*values, header + np.asarray(vector, dtype=">f4").tobytes()))


def memories_mark_failed(*, memory_ids: Sequence[Any], reason: str) -> int:
    """Mark the still-pending ``memory_ids`` as failed with ``reason``; returns how many."""
    return Memory.objects.filter(
        pk__in=memory_ids, embedding_status=EmbeddingStatus.PENDING
    ).update(embedding_status=EmbeddingStatus.FAILED, embedding_error=reason[:2000])


def memories_requeue(*, memory_ids: Sequence[Any]) -> int:
    """Mark ``memory_ids`` pending and embed them again (the admin's re-embed action)."""
    ids = list(Memory.objects.filter(pk__in=memory_ids).values_list("pk", flat=True))
    with transaction.atomic():
        count = Memory.objects.filter(pk__in=ids).update(
            embedding_status=EmbeddingStatus.PENDING, embedding_error=""
        )
        embedding_schedule(memory_ids=ids)
    return count


def memories_reembed_batch(
    *, embedder: Embedder, after: uuid.UUID | None, batch_size: int
) -> tuple[int, uuid.UUID | None]:
    """Embed the next ``batch_size`` memories (by id, after ``after``) lacking ``embedder``'s
    vectors; returns ``(embedded, last id seen)``, the id ``None`` when none are left.

    The work left is read from the database each time, so a crashed run resumes where it was.
    """
    queryset = Memory.objects.filter(_needs_embedding(embedder.name, retry_failed=True))
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0, None
    return memories_embed(memory_ids=ids, embedder=embedder, retry_failed=True), ids[-1]


def chunks_drop_other_models(*, keep_model: str) -> int:
    """Delete vectors and per-user indexes of every model but ``keep_model`` (after a switch)."""
    for index in UserVectorIndex.objects.exclude(model=keep_model):
        vector_index_drop(index=index)
    return MemoryChunk.objects.exclude(model=keep_model).delete()[0]
