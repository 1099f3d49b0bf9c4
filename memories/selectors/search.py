"""Search over one user's memories: semantic, keyword and hybrid, and the similar-memory reads
extraction and embedding use.

Vector search follows what was measured on PostgreSQL 16 + pgvector 0.6 with 1M rows: a global
HNSW index filters by user only after its scan (short or wrong lists for a user among many), so
there is none. A user below MEMORY_HNSW_USER_THRESHOLD vectors is searched exactly (btree on the
owner, distances computed for their rows; the MATERIALIZED CTE keeps any plan, cached or not,
from doing otherwise). A user above it gets a partial HNSW index of their own, built in the
background (services.vector_indexes_ensure); when that index answers with fewer than ``top_k``
memories (filters applied after the scan, or a short scan) the exact search runs instead.
"""

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchHeadline, SearchQuery
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceUnavailable
from memories.models import (
    TEXT_SEARCH_CONFIG,
    IndexStatus,
    Memory,
    MemoryChunk,
    UserVectorIndex,
)
from memories.selectors.records import MemoryFilters, memory_filter_q
from providers.embeddings import EmbeddingError, get_embedder

# Reciprocal rank fusion constant (Cormack et al.): 60 is the usual choice.
RRF_K = 60
HIGHLIGHT_DELIMITER = " … "

# --- Search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    memory: Memory
    score: float
    highlights: list[str]


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[SearchHit]
    took_ms: float
    mode: str
    # How the semantic leg ran: "exact", "hnsw", "hnsw+exact" (the guard re-ran it), or "".
    vector_path: str


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def _filter_subquery(user: User, filters: MemoryFilters) -> tuple[str, list[Any]]:
    q = memory_filter_q(filters)
    if not q:
        return "", []
    sql, params = Memory.objects.filter(user=user).filter(q).values("pk").query.sql_with_params()
    return sql, list(params)


def _exact_nearest(
    *,
    user: User,
    model: str,
    vector: str,
    limit: int,
    max_distance: float | None,
    filters: MemoryFilters,
) -> list[tuple[uuid.UUID, float]]:
    """Brute force over the user's vectors: always the true nearest memories."""
    subquery, sub_params = _filter_subquery(user, filters)
    restrict = f"AND c.memory_id IN ({subquery})" if subquery else ""
    having = "HAVING MIN(embedding <=> %s::vector) <= %s" if max_distance is not None else ""
    having_params = [vector, max_distance] if max_distance is not None else []
    # MATERIALIZED: the distances are computed over exactly these rows, never through an index.
    query = f"""
        WITH owned AS MATERIALIZED (
            SELECT c.memory_id, c.embedding FROM {MemoryChunk._meta.db_table} c
            WHERE c.user_id = %s AND c.model = %s {restrict}
        )
        SELECT memory_id, MIN(embedding <=> %s::vector) AS distance
        FROM owned GROUP BY memory_id {having}
        ORDER BY distance, memory_id LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(query, [user.pk, model, *sub_params, vector, *having_params, limit])
        return cursor.fetchall()


def _hnsw_nearest(
    *, user: User, model: str, vector: str, limit: int, filters: MemoryFilters
) -> list[tuple[uuid.UUID, float]]:
    """Nearest memories through the user's own HNSW index (approximate); filters apply after."""
    dims = int(settings.EMBEDDING_DIMENSIONS)
    subquery, sub_params = _filter_subquery(user, filters)
    restrict = f"WHERE nearest.memory_id IN ({subquery})" if subquery else ""
    # Overfetch: several chunks of one memory, and filtered-out rows, use up the index's rows.
    fetch = limit * (4 if subquery else 2)
    # The ORDER BY must be the partial index's expression for the planner to use it.
    query = f"""
        SELECT nearest.memory_id, MIN(nearest.distance) AS distance FROM (
            SELECT c.memory_id, c.embedding::vector({dims}) <=> %s::vector({dims}) AS distance
            FROM {MemoryChunk._meta.db_table} c
            WHERE c.user_id = %s AND c.model = %s
            ORDER BY c.embedding::vector({dims}) <=> %s::vector({dims})
            LIMIT %s
        ) nearest {restrict}
        GROUP BY nearest.memory_id ORDER BY distance, nearest.memory_id
    """
    ef_search = max(settings.MEMORY_HNSW_EF_SEARCH, fetch)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(query, [vector, user.pk, model, vector, fetch, *sub_params])
        return cursor.fetchall()


# Per process: (user id, model) -> (has a ready index, when it was read). An index appears
# within a minute of being built; a stale "yes" after a drop is harmless (the planner then
# finds no index, and the search is exact).
_INDEX_CACHE: dict[tuple[Any, str], tuple[bool, float]] = {}
INDEX_CACHE_SECONDS = 60.0


def _has_vector_index(user_id: Any, model: str) -> bool:
    key, now = (user_id, model), time.monotonic()
    cached = _INDEX_CACHE.get(key)
    if cached is not None and now - cached[1] < INDEX_CACHE_SECONDS:
        return cached[0]
    exists = UserVectorIndex.objects.filter(
        user_id=user_id, model=model, status=IndexStatus.READY
    ).exists()
    if len(_INDEX_CACHE) > 100_000:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (exists, now)
    return exists


def vector_index_forget(*, user_id: Any, model: str) -> None:
    """This process built or dropped the user's index: its next search looks again."""
    _INDEX_CACHE.pop((user_id, model), None)


def _semantic_ranked(
    *,
    user: User,
    vector: Sequence[float],
    model: str,
    limit: int,
    threshold: float | None,
    filters: MemoryFilters,
    has_index: bool | None = None,
) -> tuple[list[tuple[uuid.UUID, float]], str]:
    """Up to ``limit`` ``(memory id, cosine similarity)``, best first, and the path taken.
    ``has_index``: whether the user's HNSW index is ready, when the caller already knows."""
    literal = _vector_literal(vector)
    max_distance = None if threshold is None else 1.0 - threshold
    if has_index is None:
        has_index = _has_vector_index(user.pk, model)
    path = "exact"
    if has_index:
        nearest = _hnsw_nearest(
            user=user, model=model, vector=literal, limit=limit, filters=filters
        )
        if len(nearest) >= limit:
            if max_distance is not None:
                nearest = [row for row in nearest if row[1] <= max_distance]
            return [(pk, 1.0 - distance) for pk, distance in nearest[:limit]], "hnsw"
        # Guard: the index answered short. Only an exact search can say how many there are.
        path = "hnsw+exact"
    nearest = _exact_nearest(
        user=user,
        model=model,
        vector=literal,
        limit=limit,
        max_distance=max_distance,
        filters=filters,
    )
    return [(pk, 1.0 - distance) for pk, distance in nearest], path


def _text_query(query: str) -> SearchQuery:
    return SearchQuery(query, search_type="websearch", config=TEXT_SEARCH_CONFIG)


def _keyword_ranked(
    *,
    user: User,
    query: str,
    limit: int,
    threshold: float | None,
    filters: MemoryFilters,
    heavy: bool,
) -> list[tuple[uuid.UUID, float]]:
    """Up to ``limit`` ``(memory id, rank in 0..1)`` by full-text rank, best first.

    The global GIN index has the same flaw for one user among many as a global HNSW index:
    its posting lists hold every user's rows. A small user's rows are read and matched
    directly (MATERIALIZED); a heavy user's go through their own partial GIN index, built with
    their HNSW index.
    """
    subquery, sub_params = _filter_subquery(user, filters)
    restrict = f"AND m.id IN ({subquery})" if subquery else ""
    having = "AND ts_rank_cd(search_vector, q, 32) >= %s" if threshold is not None else ""
    # Cover density rank normalised by rank/(rank+1), so it lies in 0..1 (flag 32).
    sql = f"""
        WITH owned AS {"NOT MATERIALIZED" if heavy else "MATERIALIZED"} (
            SELECT m.id, m.search_vector, m.created_at FROM {Memory._meta.db_table} m
            WHERE m.user_id = %s {restrict}
        )
        SELECT id, ts_rank_cd(search_vector, q, 32) AS rank
        FROM owned, websearch_to_tsquery(%s::regconfig, %s) q
        WHERE search_vector @@ q {having}
        ORDER BY rank DESC, created_at DESC, id DESC LIMIT %s
    """
    params = [user.pk, *sub_params, TEXT_SEARCH_CONFIG, query]
    params += [threshold] if threshold is not None else []
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return cursor.fetchall()


def _boosted(
    scores: dict[uuid.UUID, float], *, importance_boost: float, recency_boost: float
) -> dict[uuid.UUID, float]:
    """Scale fused scores up by importance and recency (a 30-day half-life), when asked."""
    if not (importance_boost or recency_boost):
        return scores
    now = timezone.now()
    boosted = {}
    for pk, importance, created_at in Memory.objects.filter(pk__in=scores).values_list(
        "pk", "importance", "created_at"
    ):
        age_days = max((now - created_at).total_seconds(), 0) / 86400
        recency = math.exp(-math.log(2) * age_days / 30)
        boosted[pk] = scores[pk] * (1 + importance_boost * importance + recency_boost * recency)
    return boosted


def fuse(
    *ranked_lists: list[tuple[uuid.UUID, float]],
    top_k: int,
    importance_boost: float = 0.0,
    recency_boost: float = 0.0,
) -> list[tuple[uuid.UUID, float]]:
    """Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to a memory's score."""
    fused: dict[uuid.UUID, float] = defaultdict(float)
    for ranked in ranked_lists:
        for position, (pk, _) in enumerate(ranked, start=1):
            fused[pk] += 1.0 / (RRF_K + position)
    fused = _boosted(fused, importance_boost=importance_boost, recency_boost=recency_boost)
    return sorted(fused.items(), key=lambda item: (-item[1], str(item[0])))[:top_k]


# Longer queries are cut to this: it bounds the embedding and the full-text parse (a query of
# 100k words exhausts PostgreSQL's stack in websearch_to_tsquery).
SEARCH_QUERY_MAX_CHARS = 2_000


def memories_search(
    *,
    user: User,
    query: str,
    mode: str = "hybrid",
    top_k: int = 10,
    threshold: float | None = None,
    filters: MemoryFilters | None = None,
    importance_boost: float = 0.0,
    recency_boost: float = 0.0,
) -> SearchOutcome:
    """``user``'s memories best matching ``query``; only theirs, at most ``top_k``.

    ``semantic``: cosine similarity of the query's embedding to each memory's closest chunk
    (score = similarity; ``threshold`` is a minimum similarity, and every memory above it is
    returned, up to ``top_k``). ``keyword``: PostgreSQL full-text rank (score in 0..1;
    ``threshold`` a minimum rank). ``hybrid``: reciprocal rank fusion of both lists, the
    semantic list cut at ``threshold``; optional boosts for importance and recency. When the
    embedder is down a hybrid search answers from keywords alone (``mode`` says so).
    """
    started = time.perf_counter()
    query = query[:SEARCH_QUERY_MAX_CHARS]
    filters = filters or MemoryFilters()
    pool = top_k if mode != "hybrid" else min(max(2 * top_k, 20), 200)
    semantic: list[tuple[uuid.UUID, float]] = []
    keyword: list[tuple[uuid.UUID, float]] = []
    path = ""
    embedder = get_embedder()
    # A user with their own vector index is a heavy user: they have their own GIN index too.
    heavy = _has_vector_index(user.pk, embedder.name)
    if mode in ("semantic", "hybrid"):
        try:
            vector = embedder.embed([query])[0]
        except EmbeddingError as exc:
            if mode == "semantic":
                raise ServiceUnavailable("The embedding model is unavailable.") from exc
            mode = "keyword"
        else:
            semantic, path = _semantic_ranked(
                user=user,
                vector=vector,
                model=embedder.name,
                limit=pool,
                threshold=threshold,
                filters=filters,
                has_index=heavy,
            )
    if mode in ("keyword", "hybrid"):
        keyword = _keyword_ranked(
            user=user,
            query=query,
            limit=pool,
            threshold=threshold if mode == "keyword" else None,
            filters=filters,
            heavy=heavy,
        )

    if mode == "hybrid":
        ranking = fuse(
            semantic,
            keyword,
            top_k=top_k,
            importance_boost=importance_boost,
            recency_boost=recency_boost,
        )
    else:
        ranking = (semantic or keyword)[:top_k]

    keyword_ids = {pk for pk, _ in keyword}
    hits = _hits(ranking, query=query, highlight_ids=keyword_ids)
    took_ms = (time.perf_counter() - started) * 1000
    return SearchOutcome(hits=hits, took_ms=round(took_ms, 2), mode=mode, vector_path=path)


def _hits(
    ranking: list[tuple[uuid.UUID, float]], *, query: str, highlight_ids: set[uuid.UUID]
) -> list[SearchHit]:
    if not ranking:
        return []
    memories = Memory.objects.filter(pk__in=[pk for pk, _ in ranking])
    if highlight_ids:
        memories = memories.annotate(
            headline=SearchHeadline(
                "content",
                _text_query(query),
                config=TEXT_SEARCH_CONFIG,
                start_sel="<mark>",
                stop_sel="</mark>",
                max_fragments=2,
                max_words=20,
                min_words=5,
                fragment_delimiter=HIGHLIGHT_DELIMITER,
            )
        )
    by_pk = {memory.pk: memory for memory in memories}
    hits = []
    for pk, score in ranking:
        memory = by_pk.get(pk)
        if memory is None:  # deleted between the ranking and this read
            continue
        highlights = []
        if pk in highlight_ids and getattr(memory, "headline", ""):
            highlights = memory.headline.split(HIGHLIGHT_DELIMITER)
        hits.append(SearchHit(memory=memory, score=round(float(score), 6), highlights=highlights))
    return hits


def memories_similar(
    *, user: User, texts: Sequence[str], top_k: int, filters: MemoryFilters
) -> list[list[SearchHit]]:
    """For each of ``texts``, up to ``top_k`` of ``user``'s memories matching ``filters``,
    nearest in meaning first (the semantic leg of ``memories_search``, score = cosine
    similarity). The texts are embedded in one call; EmbeddingError propagates."""
    if not texts:
        return []
    embedder = get_embedder()
    vectors = embedder.embed([text[:SEARCH_QUERY_MAX_CHARS] for text in texts])
    has_index = _has_vector_index(user.pk, embedder.name)
    rankings = [
        _semantic_ranked(
            user=user,
            vector=vector,
            model=embedder.name,
            limit=top_k,
            threshold=None,
            filters=filters,
            has_index=has_index,
        )[0]
        for vector in vectors
    ]
    ids = {pk for ranking in rankings for pk, _ in ranking}
    by_pk = {memory.pk: memory for memory in Memory.objects.filter(pk__in=ids)}
    return [
        [
            SearchHit(memory=by_pk[pk], score=round(float(score), 6), highlights=[])
            for pk, score in ranking
            if pk in by_pk  # deleted between the ranking and this read
        ]
        for ranking in rankings
    ]


def memory_near_duplicate(
    *, memory: Memory, vector: Sequence[float], model: str, threshold: float
) -> uuid.UUID | None:
    """The id of the memory of ``memory``'s user and scope, other than ``memory``, whose single
    vector of ``model`` is at least ``threshold`` cosine-similar to ``vector``; the most similar
    one, or None. Captured prompts still waiting for their response are left out."""
    nearest, _ = _semantic_ranked(
        user=memory.user,
        vector=vector,
        model=model,
        limit=5,
        threshold=threshold,
        filters=MemoryFilters(agent_id=memory.agent_id, session_id=memory.session_id),
    )
    others = [pk for pk, _ in nearest if pk != memory.pk]
    if not others:
        return None
    eligible = set(
        Memory.objects.filter(pk__in=others)
        .exclude(~Q(prompt="") & Q(response=""))
        .annotate(vectors=Count("chunks", filter=Q(chunks__model=model)))
        .filter(vectors=1)
        .values_list("pk", flat=True)
    )
    return next((pk for pk in others if pk in eligible), None)
