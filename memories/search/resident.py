"""A hot user's search data held in the process: both legs of search without PostgreSQL.

At a few thousand memories the database's part of a search (the exact scan of every vector,
one full-text test per memory) costs more than the query's embedding, and an in-process exact
search over the same vectors (a matrix product) a fraction of it (bench/README.md). So a user
with at least ``MEMORY_RESIDENT_MIN_MEMORIES`` memories who searches gets a copy of what search
reads: their chunks' vectors (normalised, one matrix) and their memories' words (postings: which
memory holds each lexeme how often, and each memory's length), read in one statement, so one
snapshot, with their ``SearchGeneration``. Search then ranks exactly as the SQL legs do (cosine
similarity of the nearest chunk; Okapi BM25 with the user's own statistics, counted at load).
A light user's copy also holds their memories' rows, read in a second statement that checks the
generation again (hits.py): their hits then need PostgreSQL for their highlights only. A heavy
user's copy (one with their own HNSW index) puts their vectors in an HNSW graph in the process
instead (resident_ann.py): a scan of 100k vectors is too slow, and the graph answers faster than
their index in PostgreSQL; one whose vectors and graph would not fit ``MEMORY_RESIDENT_MB`` holds
their words only, their index ranking by meaning.

Coherence: every search asks PostgreSQL for the user's generation (in the round trip that parses
the query's words, beside the query's embedding); a copy whose generation differs is never used,
so a search sees every write committed before it, the searcher's own included. A write makes
the next search use SQL and starts a reload in the background, paced so that one user's reloads
take at most a tenth of the loader's time. Copies live per process, at most
``MEMORY_RESIDENT_MB`` of them, least recently searched out first. Searches with filters use SQL.

One module past 400 lines: the copy's layout, its ranking, the process's cache of copies and
their loading change together.
"""

import threading
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.db import connection

from core.background import BackgroundThread
from core.lru import Lru
from memories.models import Memory, MemoryChunk, SearchGeneration
from memories.search.fusion import KeywordRanked
from memories.search.hits import HeldRows, held_rows_read
from memories.search.keyword import (
    BM25_B,
    BM25_K1,
    MAX_QUERY_TERMS,
    QUERY_LEXEMES_SQL,
    query_lexemes_params,
)
from memories.search.resident_ann import (
    GRAPH_BYTES_PER_CHUNK,
    ChunkGraph,
    chunk_graph_build,
    chunk_graph_updated,
)
from memories.search.vectors import Ranked, has_vector_index, unit_length, vector_records

# A user found too small, or too big for the budget, is asked again after this long.
RECHECK_AFTER_SECONDS = 300.0
# The vectors come as one bytea value, which PostgreSQL caps at 1 GB: a copy never nears it.
MAX_COPY_BYTES = 768 * 1024 * 1024
# Reloads of one user's copy start at most this often: a user writing and searching at once is
# served by SQL meanwhile rather than by a reload per write.
RELOAD_AFTER_SECONDS = 2.0
# And after a load that took t seconds, the next of the same copy waits RELOAD_REST_FACTOR * t:
# one user's loads take at most a tenth of the loader's time. A user who writes as they chat
# makes each copy stale before the next search, so their loads would otherwise follow each other
# back to back: for a heavy user, seconds of a core each (their first, which builds their graph,
# ~20 s at 100k chunks; the next keep it, resident_ann.chunk_graph_updated).
RELOAD_REST_FACTOR = 9.0
# Users remembered as skipped or lately loaded, past which the expired ones are forgotten: every
# user who searches leaves an entry, and a process can serve millions of them. A pass over them
# runs at most once a second: with more than this many users searching within
# RECHECK_AFTER_SECONDS, a pass per search would cost each search a walk over all of them.
TRACKED_USERS_MAX = 10_000
PRUNE_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class ResidentIndex:
    """One user's search data for one embedding model, as of ``generation``. Memories are
    numbered in id order (``ids``: their 16-byte ids), so ties broken by number are broken by
    id as in SQL."""

    generation: int
    ids: np.ndarray  # (memories,) of 16-byte ids
    lengths: np.ndarray  # (memories,) distinct lexemes per memory: BM25's document length
    # (chunks, dimensions) float32, unit length, grouped by memory; empty when not held (a user
    # with their own HNSW index: ``graph`` holds them, or only PostgreSQL does)
    vectors: np.ndarray
    holds_vectors: bool
    graph: ChunkGraph | None  # a heavy user's chunks, searched approximately
    group_starts: np.ndarray  # first chunk of each memory that has chunks
    group_memories: np.ndarray  # that memory's number
    terms: dict[str, tuple[int, int]]  # lexeme -> its postings' slice
    postings: np.ndarray  # memory numbers, by lexeme
    frequencies: np.ndarray  # occurrences of the lexeme in that memory
    # A light user's rows, for the hits (the search's last round trip); None when not held
    rows: HeldRows | None = None

    @property
    def nbytes(self) -> int:
        arrays = (self.ids, self.lengths, self.vectors, self.group_starts, self.group_memories)
        return (
            sum(array.nbytes for array in arrays)
            + self.postings.nbytes
            + self.frequencies.nbytes
            + (self.graph.nbytes if self.graph is not None else 0)
            + (self.rows.nbytes if self.rows is not None else 0)
            + 100 * len(self.terms)  # the dict's entries and their strings, roughly
        )

    def semantic_ranked(
        self,
        vector: Sequence[float],
        *,
        limit: int,
        threshold: float | None,
        exact_for: Collection[uuid.UUID] = (),
    ) -> tuple[Ranked, str]:
        """Up to ``limit`` (memory id, cosine similarity of its nearest chunk), best first,
        only those reaching ``threshold``: what ``vectors.exact_sql`` answers, approximately
        through the graph when there is one (which also looks at the memories ``exact_for``);
        and the path taken: "resident", "resident-ann", or "resident-ann+exact" (every vector
        scanned: the graph's chunks came from too few memories, or its walk was found stuck)."""
        query = unit_length(vector)
        path = "resident"
        if self.graph is not None:
            memories, nearest, exact = self.graph.nearest(
                query, limit=limit, threshold=threshold, also=self._numbers(exact_for)
            )
            path = "resident-ann+exact" if exact else "resident-ann"
        elif not len(self.group_starts):
            return [], path
        else:
            similarities = self.vectors @ query
            if len(self.group_starts) < len(similarities):  # some memory has several chunks
                similarities = np.maximum.reduceat(similarities, self.group_starts)
            nearest = similarities.astype(np.float64)
            memories = self.group_memories
        if threshold is not None:
            keep = np.flatnonzero(nearest >= threshold)
            nearest, memories = nearest[keep], memories[keep]
        best = _top(nearest, memories, limit)
        return list(zip(self._ids(memories[best]), nearest[best].tolist(), strict=True)), path

    def keyword_ranked(self, lexemes: Sequence[str], *, limit: int) -> KeywordRanked:
        """Up to ``limit`` (memory id, BM25, normalised BM25), best first, of the memories
        holding any of ``lexemes`` (the query's, distinct): what ``keyword.bm25_statement``
        answers."""
        memories = len(self.ids)
        if not memories or not lexemes:
            return []
        average_length = max(float(self.lengths.mean()), 1e-12)
        idf_sum, held, contributions = 0.0, [], []
        for lexeme in lexemes[:MAX_QUERY_TERMS]:
            start, end = self.terms.get(lexeme, (0, 0))
            documents = end - start
            idf = np.log(1 + (memories - documents + 0.5) / (documents + 0.5))
            idf_sum += idf
            if not documents:
                continue
            numbers = self.postings[start:end]
            tf = self.frequencies[start:end].astype(np.float64)
            lengths = self.lengths[numbers]
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / average_length)
            held.append(numbers)
            contributions.append(idf * tf * (BM25_K1 + 1) / (tf + norm))
        if not held:
            return []
        scores = np.bincount(
            np.concatenate(held), weights=np.concatenate(contributions), minlength=memories
        )
        candidates = np.flatnonzero(scores > 0)
        best = candidates[_top(scores[candidates], candidates, limit)]
        return [
            (pk, score, min(score / idf_sum, 1.0) if idf_sum else 0.0)
            for pk, score in zip(self._ids(best), scores[best].tolist(), strict=True)
        ]

    def _numbers(self, pks: Collection[uuid.UUID]) -> np.ndarray:
        """The numbers of those of ``pks`` this copy holds, ascending."""
        if not pks or not len(self.ids):
            return np.zeros(0, dtype=np.int64)
        held = self.ids.view("S16")  # sorted: bytewise, as PostgreSQL orders uuids
        keys = np.array([pk.bytes for pk in pks], dtype="S16")
        at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
        return np.unique(at[held[at] == keys])

    def _ids(self, numbers: np.ndarray) -> list[uuid.UUID]:
        packed = self.ids[numbers].tobytes()
        return [uuid.UUID(bytes=packed[at : at + 16]) for at in range(0, len(packed), 16)]


def _top(scores: np.ndarray, numbers: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the ``limit`` best ``scores``, best first, ties by memory number."""
    if len(scores) > limit:
        # Everything scoring at least the limit-th best, so that ties at the cut are ordered.
        cut = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        positions = np.flatnonzero(scores >= cut)
    else:
        positions = np.arange(len(scores))
    order = np.lexsort((numbers[positions], -scores[positions]))
    return positions[order][:limit]


@dataclass(frozen=True)
class ResidentSearch:
    """A current copy and the query's lexemes: what ``rankers.ResidentRanker`` ranks."""

    index: ResidentIndex
    lexemes: list[str]


class _Copies:
    """The process's copies, least recently searched first, and who is being loaded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.indexes: Lru[tuple, ResidentIndex] = Lru(
            lambda: settings.MEMORY_RESIDENT_MB * 1024 * 1024, weight=lambda index: index.nbytes
        )
        self.skipped: dict[tuple, float] = {}  # key -> when to look again
        self.loading: dict[tuple, float] = {}  # key -> when its load started
        self.not_before: dict[tuple, float] = {}  # key -> when it may be loaded again
        self.pruned_at = -PRUNE_EVERY_SECONDS

    def get(self, key: tuple) -> ResidentIndex | None:
        return self.indexes.get(key)

    def held(self, key: tuple) -> ResidentIndex | None:
        """The copy of ``key``, current or not, leaving the order of use alone."""
        return self.indexes.peek(key)

    def wanted(self, key: tuple) -> bool:
        """Whether a load of ``key`` should start now (and if so, it is marked as loading)."""
        now = time.monotonic()
        with self.lock:
            tracked = len(self.skipped) + len(self.not_before)
            if tracked > TRACKED_USERS_MAX and now - self.pruned_at >= PRUNE_EVERY_SECONDS:
                self.pruned_at = now
                self.skipped = {k: until for k, until in self.skipped.items() if until > now}
                self.not_before = {k: at for k, at in self.not_before.items() if at > now}
            if key in self.loading or self.skipped.get(key, 0.0) > now:
                return False
            if self.not_before.get(key, 0.0) > now:
                return False
            self.loading[key] = now
            self.not_before[key] = now + RELOAD_AFTER_SECONDS
            return True

    def _loaded(self, key: tuple) -> None:
        """``key``'s load is over: its next waits in proportion to how long this one took."""
        now = time.monotonic()
        took = now - self.loading.pop(key, now)
        self.not_before[key] = max(self.not_before.get(key, 0.0), now + RELOAD_REST_FACTOR * took)

    def put(self, key: tuple, index: ResidentIndex | None) -> None:
        budget = settings.MEMORY_RESIDENT_MB * 1024 * 1024
        with self.lock:
            self._loaded(key)
            self.indexes.pop(key)
            if index is None or index.nbytes > budget:
                self.skipped[key] = time.monotonic() + RECHECK_AFTER_SECONDS
                return
            self.skipped.pop(key, None)
            self.indexes.put(key, index)

    def failed(self, key: tuple) -> None:
        with self.lock:
            self._loaded(key)

    def clear(self) -> None:
        with self.lock:
            self.indexes.clear()
            self.skipped.clear()
            self.not_before.clear()


_COPIES = _Copies()
_LOADER = BackgroundThread("resident")


def resident_search(*, user_id: uuid.UUID, model: str, query: str) -> ResidentSearch | None:
    """The user's copy for ``model`` if it is current, with ``query``'s lexemes; else None
    (search uses SQL), and a copy is loaded in the background when the user may need one."""
    if settings.MEMORY_RESIDENT_MB <= 0:
        return None
    key = (user_id, model)
    index = _COPIES.get(key)
    if index is None:
        _load_later(key)
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT generation FROM {SearchGeneration._meta.db_table} WHERE user_id = %s),"
            f" {QUERY_LEXEMES_SQL}",
            [user_id, *query_lexemes_params(query)],
        )
        generation, lexemes = cursor.fetchone()
    if generation != index.generation:
        _load_later(key)
        return None
    return ResidentSearch(index, lexemes)


def resident_index_load(*, user_id: uuid.UUID, model: str) -> ResidentIndex | None:
    """Read the user's copy for ``model`` now, on this thread's connection, and keep it; None
    (and nothing kept) when they have fewer than ``MEMORY_RESIDENT_MIN_MEMORIES`` memories,
    more vectors than ``MEMORY_RESIDENT_MB`` holds, or no generation yet. A heavy user's graph
    is built here too (~20 s per 100k vectors on one core), or their previous copy's brought
    up to date (~1 s after a few writes)."""
    key = (user_id, model)
    try:
        index = _read(user_id, model, previous=_COPIES.held(key))
    except Exception:
        _COPIES.failed(key)
        raise
    _COPIES.put(key, index)
    return index


def resident_indexes_forget() -> None:
    """Drop every copy of this process (the next searches use SQL and load again)."""
    _COPIES.clear()


def _load_later(key: tuple) -> None:
    if _COPIES.wanted(key):
        user_id, model = key
        _LOADER.submit(resident_index_load, user_id=user_id, model=model)


def _read(
    user_id: uuid.UUID, model: str, *, previous: ResidentIndex | None = None
) -> ResidentIndex | None:
    memories, chunks = Memory._meta.db_table, MemoryChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {memories} WHERE user_id = %s),"
            f" (SELECT count(*) FROM {chunks} WHERE user_id = %s AND model = %s)",
            [user_id, user_id, model],
        )
        count, vectors = cursor.fetchone()
        heavy = has_vector_index(user_id, model)
        per_vector = 4 * settings.EMBEDDING_DIMENSIONS + GRAPH_BYTES_PER_CHUNK * heavy
        budget = min(settings.MEMORY_RESIDENT_MB * 1024 * 1024, MAX_COPY_BYTES)
        # A heavy user whose vectors do not fit is still copied, without them.
        with_vectors = vectors * per_vector <= budget
        if count < settings.MEMORY_RESIDENT_MIN_MEMORIES or not (with_vectors or heavy):
            return None
        # One statement, so one snapshot: the generation is the data's. Each part comes as one
        # bytea of fixed-size big-endian records (int4send, uuid_send, vector_send), which numpy
        # reads as it is; lexemes sort bytewise (COLLATE "C": the language's collation cost most
        # of the time); the chunks come unsorted (sorting 1.5 kB rows spilled to disk) and are
        # sorted here.
        cursor.execute(
            f"""
            WITH numbered AS MATERIALIZED (
                SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS number, search_vector
                FROM {memories} WHERE user_id = %s
            ),
            postings AS MATERIALIZED (
                SELECT w.lexeme COLLATE "C" AS lexeme, n.number,
                       coalesce(cardinality(w.positions), 1) AS tf
                FROM numbered n, unnest(n.search_vector) w
            ),
            terms AS MATERIALIZED (
                SELECT lexeme, count(*)::int AS documents FROM postings GROUP BY lexeme
            )
            SELECT
                (SELECT generation FROM {SearchGeneration._meta.db_table} WHERE user_id = %s),
                (SELECT string_agg(uuid_send(id) || int4send(length(search_vector)), ''::bytea
                                   ORDER BY number) FROM numbered),
                (SELECT string_agg(int4send(n.number) || vector_send(c.embedding), ''::bytea)
                 FROM {chunks} c JOIN numbered n ON n.id = c.memory_id
                 WHERE %s AND c.user_id = %s AND c.model = %s),
                (SELECT array_agg(lexeme ORDER BY lexeme) FROM terms),
                (SELECT string_agg(int4send(documents), ''::bytea ORDER BY lexeme) FROM terms),
                (SELECT string_agg(int4send(number) || int4send(tf), ''::bytea
                                   ORDER BY lexeme, number) FROM postings)
            """,
            [user_id, user_id, with_vectors, user_id, model],
        )
        generation, memories_blob, chunks_blob, lexemes, documents, postings = cursor.fetchone()
        # A light user's rows too, when nothing was written in between (the generation says).
        rows = None
        if generation is not None and with_vectors and not heavy:
            rows = held_rows_read(cursor, user_id=user_id, generation=generation)
    if generation is None:
        return None
    owned = np.frombuffer(memories_blob or b"", dtype=[("id", "V16"), ("length", ">i4")])
    held = np.frombuffer(postings or b"", dtype=[("number", ">i4"), ("tf", ">i4")])
    numbers, vectors = _chunks(chunks_blob or b"")
    graph = None
    if heavy:  # the graph holds the vectors (no other matrix is kept), if it fits beside the words
        graph_bytes = vectors.nbytes + GRAPH_BYTES_PER_CHUNK * len(numbers)
        if len(numbers) and owned.nbytes + held.nbytes + graph_bytes <= budget:
            graph = _graph(previous, ids=owned["id"], vectors=vectors, numbers=numbers)
        numbers, vectors = np.zeros(0, dtype=np.int32), np.zeros((0, 0), dtype=np.float32)
    index = _index(
        generation=generation,
        ids=owned["id"].copy(),
        lengths=owned["length"].astype(np.int32),
        chunk_numbers=numbers,
        vectors=vectors,
        holds_vectors=with_vectors and not heavy,
        graph=graph,
        lexemes=lexemes or [],
        documents=np.frombuffer(documents or b"", dtype=">i4").astype(np.int32),
        postings=held["number"].astype(np.int32),
        frequencies=held["tf"].astype(np.int32),
    )
    if rows is not None and index.nbytes + rows.nbytes <= budget:
        index = replace(index, rows=rows)
    return index


def _graph(
    previous: ResidentIndex | None, *, ids: np.ndarray, vectors: np.ndarray, numbers: np.ndarray
) -> ChunkGraph:
    """The user's graph: ``previous``'s (the copy read before this one) with what changed since,
    when it has one that does not need building anew (resident_ann.chunk_graph_updated)."""
    if previous is not None and previous.graph is not None:
        graph = chunk_graph_updated(
            previous.graph, previous_ids=previous.ids, ids=ids, vectors=vectors, memories=numbers
        )
        if graph is not None:
            return graph
    return chunk_graph_build(vectors, numbers)


def _chunks(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Records of a memory number (int4send) then its vector: the numbers, ascending, and the
    unit-length vectors in the same order."""
    numbers, vectors = vector_records(blob, ">i4")
    order = np.argsort(numbers, kind="stable")
    return numbers[order].astype(np.int32), vectors[order]


def _index(
    *,
    generation: int,
    ids: np.ndarray,
    lengths: np.ndarray,
    chunk_numbers: np.ndarray,
    vectors: np.ndarray,
    holds_vectors: bool,
    graph: ChunkGraph | None,
    lexemes: list[str],
    documents: np.ndarray,
    postings: np.ndarray,
    frequencies: np.ndarray,
) -> ResidentIndex:
    starts = np.flatnonzero(np.r_[True, chunk_numbers[1:] != chunk_numbers[:-1]])
    if not len(chunk_numbers):
        starts = np.zeros(0, dtype=np.int64)
    ends = np.cumsum(documents)
    terms = {
        lexeme: (int(end - count), int(end))
        for lexeme, count, end in zip(lexemes, documents, ends, strict=True)
    }
    return ResidentIndex(
        generation=generation,
        ids=ids,
        lengths=lengths,
        vectors=vectors,
        holds_vectors=holds_vectors,
        graph=graph,
        group_starts=starts,
        group_memories=chunk_numbers[starts],
        terms=terms,
        postings=postings,
        frequencies=frequencies,
    )
