"""The semantic leg of search: nearest memories by cosine similarity, exact or through a heavy
user's own HNSW index.

Vector search is per user (core/vector_index.py says why; measured first on PostgreSQL 16 +
pgvector 0.6, kept on 18 + 0.8). A user below MEMORY_HNSW_USER_THRESHOLD vectors is searched
exactly (btree on the owner, distances computed for their rows; the MATERIALIZED CTE keeps any
plan, cached or not, from doing otherwise). A user above it gets a partial HNSW index of their
own, built in the background (services.vector_indexes_ensure), scanned iteratively with the
search's filters inside the scan (pgvector 0.8); when it still answers with fewer than the
memories asked for (fewer match, or several chunks of one memory) the exact search runs instead.

The SQL is built here and run by the caller, so search can send both legs in one statement.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.conf import settings

from accounts.models import User
from core import vector_index
from core.vector_index import hnsw_kept as hnsw_kept
from core.vector_index import hnsw_session as hnsw_session
from memories.filters import MemoryFilters, memory_filter_q
from memories.models import IndexStatus, Memory, MemoryChunk, UserVectorIndex

Ranked = list[tuple[uuid.UUID, float]]
# Both searches rank memories by their nearest chunks, this many per memory asked for: several
# chunks of one memory use up the rows.
NEAREST_CHUNKS_PER_MEMORY = 2


def filter_subquery(user: User, filters: MemoryFilters) -> tuple[str, list[Any]]:
    """SQL of the ids of ``user``'s memories matching ``filters`` ("" when nothing filters)."""
    q = memory_filter_q(filters)
    if not q:
        return "", []
    sql, params = Memory.objects.filter(user=user).filter(q).values("pk").query.sql_with_params()
    return sql, list(params)


def vector_records(blob: bytes, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Records of a key (numpy dtype ``key``: ">i4" for int4send, "V16" for uuid_send) then
    vector_send's output (a 16-bit dimension count, 16 unused bits, big-endian float32), as
    PostgreSQL's ``string_agg`` sends them in one bytea: the keys, and the vectors scaled to unit
    length (float32), in the same order. numpy reads the bytes as they are."""
    width = np.dtype(key).itemsize
    if not blob:
        return np.zeros(0, dtype=key), np.zeros((0, 0), dtype=np.float32)
    dimensions = int(np.frombuffer(blob[width : width + 2], dtype=">i2")[0])
    record = np.dtype([("key", key), ("head", ">i4"), ("values", ">f4", dimensions)])
    rows = np.frombuffer(blob, dtype=record)
    return rows["key"].copy(), unit_length(rows["values"])


def unit_length(vectors: Sequence[float] | np.ndarray) -> np.ndarray:
    """``vectors`` (one, or one per row) as float32 scaled to unit length: a product of two is
    then their cosine similarity, as pgvector's ``<=>`` computes it."""
    scaled = np.array(vectors, dtype=np.float32)
    scaled /= np.maximum(np.linalg.norm(scaled, axis=-1, keepdims=True), 1e-12)
    return scaled


def exact_sql(
    *,
    user: User,
    model: str,
    vector: str,
    limit: int,
    max_distance: float | None,
    filters: MemoryFilters,
) -> tuple[str, list[Any]]:
    """Brute force over the user's vectors, always the true nearest memories: SQL answering
    ``(memory id, cosine similarity, cosine similarity)``, best first."""
    subquery, sub_params = filter_subquery(user, filters)
    restrict = f"AND c.memory_id IN ({subquery})" if subquery else ""
    having = "HAVING MIN(distance) <= %s" if max_distance is not None else ""
    having_params = [max_distance] if max_distance is not None else []
    nearest = max(limit * NEAREST_CHUNKS_PER_MEMORY, 20)
    # MATERIALIZED: the distances are computed over exactly these rows, never through an index.
    # Only the distances are kept: the vectors themselves (1.5 kB each) spilled to disk.
    # Grouping every chunk by memory cost more than the scan; the nearest chunks hold the best
    # chunk of every memory that can rank when they come from at least ``limit`` memories (or
    # are all there is), so only then are they the ones grouped. The branch not taken is never
    # run (a one-time filter on the flag).
    sql = f"""
        WITH owned AS MATERIALIZED (
            SELECT c.memory_id, c.embedding <=> %s::vector AS distance
            FROM {MemoryChunk._meta.db_table} c
            WHERE c.user_id = %s AND c.model = %s {restrict}
        ),
        nearest AS MATERIALIZED (
            SELECT memory_id, distance FROM owned ORDER BY distance, memory_id LIMIT %s
        ),
        enough AS MATERIALIZED (
            SELECT count(*) < %s OR count(DISTINCT memory_id) >= %s AS holds FROM nearest
        )
        SELECT memory_id, 1 - MIN(distance) AS similarity, 1 - MIN(distance)
        FROM (
            SELECT memory_id, distance FROM nearest WHERE (SELECT holds FROM enough)
            UNION ALL
            SELECT memory_id, distance FROM owned WHERE NOT (SELECT holds FROM enough)
        ) candidates
        GROUP BY memory_id {having}
        ORDER BY similarity DESC, memory_id LIMIT %s
    """
    return sql, [
        vector,
        user.pk,
        model,
        *sub_params,
        nearest,
        nearest,
        limit,
        *having_params,
        limit,
    ]


def hnsw_sql(
    *, user: User, model: str, vector: str, limit: int, filters: MemoryFilters
) -> tuple[str, list[Any], int]:
    """Nearest memories through the user's own HNSW index (approximate): SQL, parameters and
    the ``hnsw.ef_search`` it needs. The filters are in the scanned query, so the iterative
    scan (``hnsw_session``) goes on until enough rows pass them."""
    distance = vector_index.cosine_distance("c.embedding", settings.EMBEDDING_DIMENSIONS)
    subquery, sub_params = filter_subquery(user, filters)
    restrict = f"AND c.memory_id IN ({subquery})" if subquery else ""
    fetch = limit * NEAREST_CHUNKS_PER_MEMORY
    sql = f"""
        SELECT nearest.memory_id, 1 - MIN(nearest.distance) AS similarity,
               1 - MIN(nearest.distance)
        FROM (
            SELECT c.memory_id, {distance} AS distance
            FROM {MemoryChunk._meta.db_table} c
            WHERE c.user_id = %s AND c.model = %s {restrict}
            ORDER BY {distance}
            LIMIT %s
        ) nearest
        GROUP BY nearest.memory_id ORDER BY similarity DESC, nearest.memory_id
    """
    ef_search = vector_index.ef_search_for(fetch, floor=settings.MEMORY_HNSW_EF_SEARCH)
    return sql, [vector, user.pk, model, *sub_params, vector, fetch], ef_search


# Per process: whether (user id, model) has a ready index (core.vector_index.ReadinessCache).
_READY = vector_index.ReadinessCache()


def has_vector_index(user_id: Any, model: str) -> bool:
    return _READY.ready(
        (user_id, model),
        lambda: UserVectorIndex.objects.filter(
            user_id=user_id, model=model, status=IndexStatus.READY
        ).exists(),
    )


def vector_index_forget(*, user_id: Any, model: str) -> None:
    """This process built or dropped the user's index: its next search looks again."""
    _READY.forget((user_id, model))


def semantic_sql(
    *,
    user: User,
    model: str,
    vector: Sequence[float],
    limit: int,
    threshold: float | None,
    filters: MemoryFilters,
    indexed: bool,
) -> tuple[str, list[Any], int | None]:
    """The semantic leg's SQL, its parameters and the ``hnsw.ef_search`` it needs (None for
    the exact search): through the user's HNSW index when ``indexed`` (cut at ``threshold``
    by ``hnsw_kept``), else exact (cut at ``threshold`` in SQL)."""
    literal = vector_index.vector_literal(vector)
    if indexed:
        return hnsw_sql(user=user, model=model, vector=literal, limit=limit, filters=filters)
    max_distance = None if threshold is None else 1.0 - threshold
    sql, params = exact_sql(
        user=user,
        model=model,
        vector=literal,
        limit=limit,
        max_distance=max_distance,
        filters=filters,
    )
    return sql, params, None
