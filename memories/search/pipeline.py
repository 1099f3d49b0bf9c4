"""Search over one user's memories as one pipeline: embed the query, choose who ranks each leg,
rank both legs, fuse them, read the hits. Also the similar-memory reads extraction and
embedding use (the semantic leg alone).

A new query's embedding runs in another thread while the keyword leg runs (query_vectors.py);
a query embedded lately sends both legs to PostgreSQL as one statement. Who ranks is
``rankers.rankers_for``'s choice (SQL, or the user's copy in this process). The weight, the
candidate depth and chat's relevance floor were chosen on ``make bench-retrieval``'s tuning
split (bench/README.md).
"""

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q

from accounts.models import User
from core.errors import ServiceUnavailable
from memories import unembedded
from memories.filters import MemoryFilters
from memories.models import Memory
from memories.search.fusion import Fused, boosted, fuse, keyword_best_kept
from memories.search.hits import Highlights, SearchHit, hits_read
from memories.search.query_vectors import cached_query_vector, query_vector_started
from memories.search.rankers import Legs, Rankers, SqlRanker, rankers_for
from memories.search.vectors import has_vector_index
from providers.embeddings import Embedder, EmbeddingError, get_embedder

# Longer queries are cut to this: it bounds the embedding and the full-text parse.
SEARCH_QUERY_MAX_CHARS = 2_000

# --- Search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[SearchHit]
    took_ms: float
    mode: str
    # How the semantic leg ran: "exact", "hnsw", "hnsw+exact" (the guard re-ran it),
    # "resident" (the user's copy in this process, exact), "resident-ann" (a heavy user's copy,
    # through its HNSW graph; "resident-ann+exact" when it scanned every vector), or "".
    vector_path: str


def memories_search(
    *,
    user: User,
    query: str,
    mode: str = "hybrid",
    top_k: int = 10,
    threshold: float | None = None,
    min_score: float | None = None,
    filters: MemoryFilters | None = None,
    importance_boost: float = 0.0,
    recency_boost: float = 0.0,
) -> SearchOutcome:
    """``user``'s memories best matching ``query``; only theirs, at most ``top_k``.

    ``semantic``: score = cosine similarity of the query's embedding to each memory's closest
    chunk; ``threshold`` is a minimum similarity, and every memory above it is returned, up to
    ``top_k``. ``keyword``: Okapi BM25 over any of the query's words; score = BM25 normalised
    to 0..1 (keyword.py), ``threshold`` a minimum of it. ``hybrid``: both legs
    (``MEMORY_SEARCH_DEPTH`` candidates each, the semantic one cut at ``threshold``) fused as
    ``w·cosine + (1 - w)·normalised BM25`` (``w`` = ``MEMORY_SEARCH_SEMANTIC_WEIGHT``), with
    optional boosts for importance and recency; the keyword leg's best memory keeps a place
    among the first ``top_k`` (``fusion.keyword_best_kept``). ``min_score``: only results whose
    score reaches it. Every hit carries both legs' own scores where known. When the embedder is
    down a hybrid search answers from keywords alone (``mode`` says so).
    """
    started = time.perf_counter()
    query = _search_text(query)
    filters = filters or MemoryFilters()
    depth = top_k if mode != "hybrid" else max(settings.MEMORY_SEARCH_DEPTH, top_k)
    # Embed: started now, so it runs while the database is asked.
    embedder = get_embedder()
    if mode != "keyword":
        _embedding_started(embedder, query)
        # Memories the user saved a moment ago, still being embedded here: found, not missed.
        unembedded.wait(user.pk, seconds=settings.MEMORY_SEARCH_WAITS_FOR_WRITES_SECONDS)
    # Choose who ranks each leg. A user with their own vector index is a heavy user: their own
    # GIN index too.
    rankers = rankers_for(
        user=user,
        query=query,
        model=embedder.name,
        filters=filters,
        heavy=has_vector_index(user.pk, embedder.name),
    )
    # Rank both legs.
    highlights = Highlights(user=user, query=query)
    legs, mode = _legs(
        rankers=rankers,
        embedder=embedder,
        query=query,
        mode=mode,
        threshold=threshold,
        depth=depth,
        highlights=highlights,
        top_k=top_k,
    )
    semantic, keyword, path = legs.semantic, legs.keyword, legs.path
    # Fuse.
    if mode == "hybrid":
        ranking = fuse(
            semantic, keyword, depth=depth, weight=settings.MEMORY_SEARCH_SEMANTIC_WEIGHT
        )
        ranking = boosted(
            ranking,
            user_id=user.pk,
            importance_boost=importance_boost,
            recency_boost=recency_boost,
        )
    elif mode == "semantic":
        ranking = [Fused(pk, similarity, similarity, None) for pk, similarity in semantic]
    else:
        ranking = [
            Fused(pk, normalised, None, raw)
            for pk, raw, normalised in keyword
            if threshold is None or normalised >= threshold
        ]
    if min_score is not None:
        # On the score as answered (rounded), so a score a client was shown passes its own floor.
        ranking = [item for item in ranking if round(item.score, 6) >= min_score]
    if mode == "hybrid":
        ranking = keyword_best_kept(ranking, keyword, top_k=top_k)
    # Read the hits.
    hits = hits_read(
        ranking[:top_k],
        user=user,
        keyword_ids={pk for pk, _, _ in keyword},
        highlights=highlights,
        held=rankers.rows,
    )
    took_ms = (time.perf_counter() - started) * 1000
    return SearchOutcome(hits=hits, took_ms=round(took_ms, 2), mode=mode, vector_path=path)


def memories_query_prefetch(query: str) -> None:
    """Start embedding ``query`` for a search about to run (chat's recall, while the rest of
    the turn is prepared): that search then finds its vector ready or on its way. Errors are
    the search's to report."""
    _embedding_started(get_embedder(), _search_text(query))


def _embedding_started(embedder: Embedder, query: str) -> None:
    """``query``'s embedding on its way in another thread, unless it was embedded lately."""
    if cached_query_vector(embedder, query) is None:
        query_vector_started(embedder, query)


def _search_text(query: str) -> str:
    """``query`` as search sends it to the model and to PostgreSQL: cut to
    ``SEARCH_QUERY_MAX_CHARS``, NUL characters (which PostgreSQL's text refuses, and which not
    every caller's input validation removes) as spaces."""
    return query[:SEARCH_QUERY_MAX_CHARS].replace("\x00", " ")


def _legs(
    *,
    rankers: Rankers,
    embedder: Embedder,
    query: str,
    mode: str,
    threshold: float | None,
    depth: int,
    highlights: Highlights,
    top_k: int,
) -> tuple[Legs, str]:
    """The candidates of the legs ``mode`` asks for and the mode that answered: ``keyword``
    when the embedder is down in a hybrid search. A new query's keyword leg, and the highlights
    of its first ``top_k`` memories, are read while the query embeds."""
    if mode == "keyword":
        return rankers.rank(vector=None, threshold=None, keyword=True, depth=depth), mode
    vector = cached_query_vector(embedder, query)
    if vector is None and mode == "semantic":
        try:
            vector = query_vector_started(embedder, query).result()
        except EmbeddingError as exc:
            raise ServiceUnavailable("The embedding model is unavailable.") from exc
    if vector is not None:
        legs = rankers.rank(
            vector=vector, threshold=threshold, keyword=mode == "hybrid", depth=depth
        )
        return legs, mode
    # A new query in a hybrid search: the keyword leg needs no vector, so it runs meanwhile.
    pending = query_vector_started(embedder, query)
    words = rankers.rank(vector=None, threshold=None, keyword=True, depth=depth)
    if not pending.done():
        highlights.read_now([pk for pk, _, _ in words.keyword[:top_k]])
    try:
        vector = pending.result()
    except EmbeddingError:
        return Legs([], words.keyword, ""), "keyword"
    semantic = rankers.rank(
        vector=vector,
        threshold=threshold,
        keyword=False,
        depth=depth,
        exact_for=[pk for pk, _, _ in words.keyword],
    )
    return Legs(semantic.semantic, words.keyword, semantic.path), mode


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
    ranker = _semantic_ranker(user=user, model=embedder.name, filters=filters)
    rankings = [
        ranker.rank(vector=vector, threshold=None, keyword=False, depth=top_k).semantic
        for vector in vectors
    ]
    ids = {pk for ranking in rankings for pk, _ in ranking}
    by_pk = {memory.pk: memory for memory in Memory.objects.filter(user=user, pk__in=ids)}
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
    ranker = _semantic_ranker(
        user=memory.user,
        model=model,
        filters=MemoryFilters(agent_id=memory.agent_id, session_id=memory.session_id),
    )
    nearest = ranker.rank(vector=vector, threshold=threshold, keyword=False, depth=5).semantic
    others = [pk for pk, _ in nearest if pk != memory.pk]
    if not others:
        return None
    eligible = set(
        Memory.objects.filter(user_id=memory.user_id, pk__in=others)
        .exclude(~Q(prompt="") & Q(response=""))
        .annotate(vectors=Count("chunks", filter=Q(chunks__model=model)))
        .filter(vectors=1)
        .values_list("pk", flat=True)
    )
    return next((pk for pk in others if pk in eligible), None)


def _semantic_ranker(*, user: User, model: str, filters: MemoryFilters) -> SqlRanker:
    """The semantic leg of search in SQL, for reads by meaning alone: a heavy user's index
    answers, checked as search's is (a stuck walk would miss the memory to merge with)."""
    heavy = has_vector_index(user.pk, model)
    return SqlRanker(user=user, query="", model=model, filters=filters, heavy=heavy)
