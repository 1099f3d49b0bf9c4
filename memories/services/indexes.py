"""Per-user HNSW (and GIN) indexes, built and dropped outside the request that calls for them."""

import hashlib
import logging
import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from memories.models import (
    IndexStatus,
    Memory,
    MemoryChunk,
    UserVectorIndex,
)
from memories.selectors.search import vector_index_forget
from memories.services.scheduling import vector_index_build_schedule

logger = logging.getLogger(__name__)

# --- Per-user HNSW indexes -----------------------------------------------------------------------


def vector_index_name(user_id: uuid.UUID, model: str) -> str:
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"memories_hnsw_{uuid.UUID(str(user_id)).hex}_{digest}"[:63]


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


def _index_ddl(index: UserVectorIndex, *, concurrently: bool) -> list[sql.Composed]:
    """The user's partial HNSW index over their chunks of one model, and their partial GIN
    index over their memories' text (shared by all models)."""
    options = {
        "concurrently": sql.SQL("CONCURRENTLY" if concurrently else ""),
        "user": sql.Literal(str(index.user_id)),
    }
    return [
        sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON {table} USING hnsw "
            "((embedding::vector({dims})) vector_cosine_ops) "
            "WITH (m = 16, ef_construction = {ef_construction}) "
            "WHERE user_id = {user} AND model = {model}"
        ).format(
            name=sql.Identifier(index.name),
            table=sql.Identifier(MemoryChunk._meta.db_table),
            dims=sql.Literal(index.dimensions),
            ef_construction=sql.Literal(settings.MEMORY_HNSW_EF_CONSTRUCTION),
            model=sql.Literal(index.model),
            **options,
        ),
        sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON {table} USING gin "
            "(search_vector) WHERE user_id = {user}"
        ).format(
            name=sql.Identifier(text_index_name(index.user_id)),
            table=sql.Identifier(Memory._meta.db_table),
            **options,
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
    concurrently = not connection.in_atomic_block
    try:
        # Inside a caller's transaction: a savepoint, so a failure leaves it usable.
        savepoint = transaction.atomic() if not concurrently else nullcontext()
        with savepoint, connection.cursor() as cursor:
            if not concurrently:
                # Deferred foreign-key checks of the same transaction would block the DDL.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET maintenance_work_mem = '256MB'")
            try:
                for ddl in _index_ddl(index, concurrently=concurrently):
                    cursor.execute(ddl.as_string(cursor.cursor))
            finally:
                cursor.execute("RESET maintenance_work_mem")
    except DatabaseError as exc:
        logger.exception("Building vector index %s failed", index.name)
        if concurrently:  # CONCURRENTLY leaves an invalid index behind
            _drop_index_ddl(index.name)
            _drop_index_ddl(text_index_name(index.user_id))
        UserVectorIndex.objects.filter(pk=index.pk).update(
            status=IndexStatus.FAILED, error=str(exc)[:2000]
        )
        return False
    rows = MemoryChunk.objects.filter(user_id=index.user_id, model=index.model).count()
    UserVectorIndex.objects.filter(pk=index.pk).update(
        status=IndexStatus.READY, rows=rows, error=""
    )
    vector_index_forget(user_id=index.user_id, model=index.model)
    return True


def _drop_index_ddl(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)).as_string(cursor.cursor)
        )


def vector_index_drop(*, index: UserVectorIndex) -> None:
    """Drop a per-user index and its record (and the user's text index with their last one)."""
    _drop_index_ddl(index.name)
    index.delete()
    vector_index_forget(user_id=index.user_id, model=index.model)
    if not UserVectorIndex.objects.filter(user_id=index.user_id).exists():
        _drop_index_ddl(text_index_name(index.user_id))


def vector_indexes_drop_for_user(*, user_id: Any) -> int:
    indexes = list(UserVectorIndex.objects.filter(user_id=user_id))
    for index in indexes:
        vector_index_drop(index=index)
    return len(indexes)
