"""Per-user HNSW (and GIN) indexes, built and dropped outside the request that calls for them."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from psycopg import sql

from core import vector_index
from memories.models import (
    IndexStatus,
    KeywordStatistics,
    Memory,
    MemoryChunk,
    UserVectorIndex,
)
from memories.search.vectors import vector_index_forget
from memories.services.scheduling import vector_index_build_schedule
from memories.services.term_statistics import term_statistics_refresh

# --- Per-user HNSW indexes -----------------------------------------------------------------------


def vector_index_name(user_id: uuid.UUID, model: str) -> str:
    return vector_index.index_name("memories_hnsw", user_id, model)


def vector_indexes_ensure(*, user_ids: Iterable[Any], model: str) -> list[int]:
    """Start building a per-user HNSW index for each of ``user_ids`` whose vectors of ``model``
    reached MEMORY_HNSW_USER_THRESHOLD; returns the ids of the index records created."""
    created = []
    for user_id in user_ids:
        if UserVectorIndex.objects.filter(user_id=user_id, model=model).exists():
            continue
        rows = MemoryChunk.objects.filter(user_id=user_id, model=model).count()
        if rows < settings.MEMORY_HNSW_USER_THRESHOLD:
            continue
        index, was_created = UserVectorIndex.objects.get_or_create(
            user_id=user_id,
            model=model,
            defaults={
                "name": vector_index_name(user_id, model),
                "dimensions": settings.EMBEDDING_DIMENSIONS,
                "status": IndexStatus.BUILDING,
                "rows": rows,
            },
        )
        if was_created:
            created.append(index.pk)
            vector_index_build_schedule(index_id=index.pk)
    return created


def text_index_name(user_id: uuid.UUID) -> str:
    return f"memories_gin_{uuid.UUID(str(user_id)).hex}"


def _partial_indexes(index: UserVectorIndex) -> list[vector_index.PartialIndex]:
    """The user's partial HNSW index over their chunks of one model, and their partial GIN
    index over their memories' text (shared by all models)."""
    return [
        vector_index.hnsw_cosine_index(
            name=index.name,
            table=MemoryChunk._meta.db_table,
            column="embedding",
            dimensions=index.dimensions,
            where={"user_id": str(index.user_id), "model": index.model},
            ef_construction=settings.MEMORY_HNSW_EF_CONSTRUCTION,
        ),
        vector_index.PartialIndex(
            name=text_index_name(index.user_id),
            table=Memory._meta.db_table,
            method="gin",
            expression=sql.Identifier("search_vector"),
            where={"user_id": str(index.user_id)},
        ),
    ]


def vector_index_build(*, index_id: int) -> bool:
    """Build the partial HNSW index ``index_id`` describes; True once it is ready.

    Built CONCURRENTLY (writes go on) unless the caller holds a transaction, where PostgreSQL
    forbids it. A failed build leaves no invalid index behind and is marked failed.
    """
    index = UserVectorIndex.objects.filter(pk=index_id).first()
    if index is None or index.status == IndexStatus.READY:
        return index is not None
    error = vector_index.indexes_build(_partial_indexes(index))
    if error is not None:
        UserVectorIndex.objects.filter(pk=index.pk).update(
            status=IndexStatus.FAILED, error=error[:2000]
        )
        return False
    # Before the index is ready: every user searched as heavy has word statistics.
    term_statistics_refresh(user_id=index.user_id)
    rows = MemoryChunk.objects.filter(user_id=index.user_id, model=index.model).count()
    UserVectorIndex.objects.filter(pk=index.pk).update(
        status=IndexStatus.READY, rows=rows, error=""
    )
    vector_index_forget(user_id=index.user_id, model=index.model)
    return True


def vector_index_drop(*, index: UserVectorIndex) -> None:
    """Drop a per-user index and its record (and the user's text index with their last one)."""
    vector_index.index_drop(index.name)
    index.delete()
    vector_index_forget(user_id=index.user_id, model=index.model)
    if not UserVectorIndex.objects.filter(user_id=index.user_id).exists():
        vector_index.index_drop(text_index_name(index.user_id))
        KeywordStatistics.objects.filter(user_id=index.user_id).delete()


def user_indexes_drop_on_commit(*, user_id: Any) -> None:
    """For a user being deleted: their per-user indexes are dropped once the caller's transaction
    commits (their records go with the user; a DROP INDEX inside it would lock the memories of
    everyone for as long as the deletion runs)."""
    names = [index.name for index in UserVectorIndex.objects.filter(user_id=user_id)]
    if names:
        names.append(text_index_name(user_id))

    def drop() -> None:
        for name in names:
            vector_index.index_drop(name)

    transaction.on_commit(drop)


def vector_indexes_drop_for_user(*, user_id: Any) -> int:
    indexes = list(UserVectorIndex.objects.filter(user_id=user_id))
    for index in indexes:
        vector_index_drop(index=index)
    return len(indexes)
