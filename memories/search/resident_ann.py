"""A heavy user's chunks in an HNSW graph held in the process: the semantic leg of their copy.

A user with their own HNSW index in PostgreSQL (100k memories at ``make bench-memories``) is too
big for the copy's exact scan (a product of 100k x 384 floats, ~20 ms on one core), and the
round trip to their index cost more than the rest of the search. So their copy (resident.py)
puts the vectors it reads into an HNSW graph of its own, built by the background loader that
reads the copy: ~0.3 ms a query. The graph holds the vectors (the copy keeps no other matrix of
them), so its answers are exact inner products of unit vectors, that is the same cosine
similarities the exact search computes. The copy read again after a write keeps the graph it had
(``chunk_graph_updated``): rows of memories gone or changed are masked, never answered, and new
chunks are added to a copy of it (~1 s against a build's ~20 s at 100k chunks).

faiss-cpu (``IndexHNSWFlat``) was measured against usearch on the benchmark's 100k heavy user
(bench/HISTORY.md): it built faster (16 s against 24 s on one core at the same M and ef), answered
faster (0.25 against 0.40 ms) and found more of the exact top 50 (1.0 against 0.996). It is a
compute library, not a vendor answering for a service, so it is not in providers/ (whose
packages stand behind our interfaces to external models and APIs): this is the one module that
imports it.
"""

from dataclasses import dataclass

import faiss
import numpy as np

# The graph's shape: each chunk linked to NEIGHBOURS others (twice that on the lowest layer),
# found among BUILD_CANDIDATES while building; a search looks through at least SEARCH_CANDIDATES.
# At 100k manifold vectors these find 0.997 of the exact top 50 (bench/HISTORY.md).
NEIGHBOURS = 16
BUILD_CANDIDATES = 64
SEARCH_CANDIDATES = 100
# The graph's own bytes per chunk beside its vector (links on each layer, levels, offsets): an
# estimate for deciding before the read whether a copy fits; ``ChunkGraph.nbytes`` counts them.
GRAPH_BYTES_PER_CHUNK = 2 * NEIGHBOURS * 4 + 32
# Chunks asked of the graph per memory asked for (a memory's several chunks use up its answers,
# as in vectors.hnsw_sql), widened this many times over while they come from too few memories;
# past EXACT_PAST chunks an exact scan of the same vectors is as cheap and sure.
CHUNKS_PER_MEMORY = 2
WIDEN = 4
EXACT_PAST = 2_000
# Chunks taken at even steps through the graph's order and checked exactly beside each search:
# a search stuck in another part of the space (2 of 820 of the benchmark's queries found none of
# their exact top 50, at efSearch 100 as at 300) leaves many sampled chunks nearer than its last
# answer unfound, more than the few an approximate answer misses at its edge (at most
# MISSED_SENTINELS, or as many as its answers' share of the sample), and every vector is scanned.
SENTINELS = 1_024
MISSED_SENTINELS = 2
# Past this share of masked rows a graph is built anew rather than kept (chunk_graph_updated):
# it would walk through, and hold, too many dead rows.
MASKED_PAST = 0.1

# One thread: a search is one query (nothing to share out) and a build runs in the copies'
# loader thread beside requests; OpenMP's threads would spin on the cores the query's embedding
# and PostgreSQL need, as numpy's BLAS threads did (core/numeric.py).
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class ChunkGraph:
    """Unit-length chunk vectors in an HNSW graph; ``memories``: the memory number of each
    chunk, in the graph's order, -1 where masked (its memory changed after the graph was
    built)."""

    graph: faiss.IndexHNSWFlat
    memories: np.ndarray
    sentinel_rows: np.ndarray  # up to SENTINELS rows of the graph, not masked, and their vectors
    sentinels: np.ndarray
    by_memory: np.ndarray  # the rows, by memory number (the masked first)
    sorted_memories: np.ndarray  # ``memories`` in that order
    live: int  # rows not masked

    @property
    def nbytes(self) -> int:
        hnsw = self.graph.hnsw
        vectors = self.graph.ntotal * self.graph.d * 4
        links = (hnsw.neighbors.size() + hnsw.levels.size()) * 4 + hnsw.offsets.size() * 8
        sampled = self.sentinel_rows.nbytes + self.sentinels.nbytes
        numbers = self.memories.nbytes + self.by_memory.nbytes + self.sorted_memories.nbytes
        return vectors + links + numbers + sampled

    def nearest(
        self,
        query: np.ndarray,
        *,
        limit: int,
        threshold: float | None,
        also: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Memory numbers and the cosine similarity of each one's nearest chunk to ``query``
        (unit length), unordered: every memory the graph finds that can be among the ``limit``
        nearest, or reach ``threshold``, and the memories numbered in ``also``; and whether an
        exact scan answered instead. Each similarity is exact, over all of the memory's chunks:
        the graph only chooses which memories are looked at."""
        total = self.graph.ntotal  # masked rows included: asking for them all finds every chunk
        wanted = min(total, limit * CHUNKS_PER_MEMORY)
        exact = False  # once the graph is found stuck, or past EXACT_PAST, every round scans
        while True:
            exact = exact or wanted > EXACT_PAST
            similarities, rows = self._search(query, wanted, exact=exact)
            if not exact and self._missed(query, similarities, rows):
                exact = True
                similarities, rows = self._search(query, wanted, exact=True)
            numbers = np.unique(self.memories[rows])
            # Every memory that can rank is here when the chunks found come from enough
            # memories, are all there are, or reach past the threshold.
            if (
                len(numbers) >= limit
                or wanted >= total
                or (threshold is not None and len(similarities) and similarities[-1] < threshold)
            ):
                break
            wanted = min(total, wanted * WIDEN)
        if also is not None and len(also):
            numbers = np.union1d(numbers, also)
        numbers, best = self._nearest_chunks(query, numbers)
        return numbers, best, exact

    def _nearest_chunks(
        self, query: np.ndarray, numbers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Those of ``numbers`` (ascending, distinct) that have chunks, and the similarity of
        each one's nearest chunk to ``query``, over all its chunks: the graph may have found a
        memory through one chunk and missed a nearer one."""
        starts = np.searchsorted(self.sorted_memories, numbers, "left")
        counts = np.searchsorted(self.sorted_memories, numbers, "right") - starts
        numbers, starts, counts = numbers[counts > 0], starts[counts > 0], counts[counts > 0]
        if not len(numbers):
            return numbers, np.zeros(0, dtype=np.float64)
        firsts = np.cumsum(counts) - counts  # each memory's first row among those read
        rows = self.by_memory[np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))]
        similarities = self.graph.storage.reconstruct_batch(rows) @ query
        return numbers, np.maximum.reduceat(similarities, firsts).astype(np.float64)

    def _missed(self, query: np.ndarray, similarities: np.ndarray, rows: np.ndarray) -> bool:
        """Whether the graph's answer left out more of the sampled chunks nearer than its last
        one than its edge explains: its walk ended in another part of the space."""
        if not len(rows):
            return self.live > 0
        nearer = self.sentinel_rows[self.sentinels @ query > similarities[-1]]
        unfound = np.count_nonzero(~np.isin(nearer, rows))
        return too_many_missed(
            unfound, answered=len(rows), sampled=len(self.sentinel_rows), total=self.live
        )

    def _search(self, query: np.ndarray, wanted: int, *, exact: bool) -> tuple[np.ndarray, ...]:
        if exact:
            similarities, rows = self.graph.storage.search(query[None, :], wanted)
        else:
            # Every candidate the walk kept: no slower, and the check against the sample then
            # reaches as deep for a search of ten as for one of fifty.
            candidates = max(SEARCH_CANDIDATES, wanted)
            params = faiss.SearchParametersHNSW()
            params.efSearch = candidates
            similarities, rows = self.graph.search(query[None, :], candidates, params=params)
        rows = rows[0]
        found = rows >= 0  # fewer chunks reachable than asked for
        found[found] = self.memories[rows[found]] >= 0  # and masked ones are not answers
        return similarities[0][found], rows[found]


def too_many_missed(unfound: int, *, answered: int, sampled: int, total: int) -> bool:
    """Whether an approximate answer of ``answered`` chunks among ``total`` left out more of
    ``sampled`` chunks (taken evenly) nearer than its last one (``unfound`` of them) than its
    edge explains: at most MISSED_SENTINELS, or its answers' share of the sample."""
    return unfound > max(MISSED_SENTINELS, answered * sampled / max(total, 1))


def chunk_graph_build(vectors: np.ndarray, memories: np.ndarray) -> ChunkGraph:
    """The graph of ``vectors`` (unit length, float32, one row per chunk; ``memories`` their
    memory numbers). faiss lets go of the GIL while it builds: requests go on meanwhile."""
    graph = faiss.IndexHNSWFlat(vectors.shape[1], NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = BUILD_CANDIDATES
    graph.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return _chunk_graph(graph, memories)


def chunk_graph_updated(
    previous: ChunkGraph,
    *,
    previous_ids: np.ndarray,
    ids: np.ndarray,
    vectors: np.ndarray,
    memories: np.ndarray,
) -> ChunkGraph | None:
    """``previous`` (its memory numbers index ``previous_ids``) brought to the chunks that
    ``chunk_graph_build`` would take now (``vectors``, their numbers ``memories`` indexing
    ``ids``; both id lists ascending): the rows of each memory that has the same chunks as
    before are kept, every other row is masked, and the chunks of new or changed memories are
    added to a copy of the graph (searches may be using this one). None when more than
    MASKED_PAST of the rows would be masked."""
    old = previous.memories
    # Each old row's memory in the new numbering; -1 when masked already, or the memory is gone.
    renumbered = np.full(len(old), -1, dtype=np.int64)
    held = np.flatnonzero(old >= 0)
    if len(ids) and len(held):
        keys, old_keys = ids.view("S16"), previous_ids.view("S16")[old[held]]
        at = np.minimum(np.searchsorted(keys, old_keys), len(keys) - 1)
        renumbered[held] = np.where(keys[at] == old_keys, at, -1)
    # A memory is unchanged when it has as many chunks as before with the same vectors: the
    # chunks of those with as many, ordered alike (by memory, then by their first components:
    # the database sends a memory's chunks in no order), are compared row by row.
    count_new = np.bincount(memories, minlength=len(ids))
    count_old = np.bincount(renumbered[renumbered >= 0], minlength=len(ids))
    alike = (count_old == count_new) & (count_new > 0)
    stored = _stored(previous.graph)
    old_rows = np.flatnonzero(renumbered >= 0)
    old_rows = _aligned(old_rows[alike[renumbered[old_rows]]], stored, renumbered)
    new_rows = _aligned(np.flatnonzero(alike[memories]), vectors, memories)
    differs = np.any(stored[old_rows] != vectors[new_rows], axis=1)
    alike[memories[new_rows[differs]]] = False
    kept = np.where((renumbered >= 0) & alike[np.maximum(renumbered, 0)], renumbered, -1)
    added = np.flatnonzero(~alike[memories])
    if np.count_nonzero(kept < 0) > MASKED_PAST * (len(kept) + len(added)):
        return None
    graph = previous.graph
    if len(added):
        graph = faiss.clone_index(graph)
        graph.add(np.ascontiguousarray(vectors[added], dtype=np.float32))
    return _chunk_graph(graph, np.concatenate([kept, memories[added]]).astype(np.int32))


def _aligned(rows: np.ndarray, vectors: np.ndarray, memories: np.ndarray) -> np.ndarray:
    """``rows`` by memory, then by their vectors' first components."""
    return rows[np.lexsort((vectors[rows, 1], vectors[rows, 0], memories[rows]))]


def _chunk_graph(graph: faiss.IndexHNSWFlat, memories: np.ndarray) -> ChunkGraph:
    live = np.flatnonzero(memories >= 0)
    sentinel_rows = live[
        np.unique(np.linspace(0, len(live) - 1, min(len(live), SENTINELS)).astype(np.int64))
    ]
    by_memory = np.argsort(memories, kind="stable")
    return ChunkGraph(
        graph=graph,
        memories=memories,
        sentinel_rows=sentinel_rows,
        sentinels=np.ascontiguousarray(_stored(graph)[sentinel_rows]),
        by_memory=by_memory,
        sorted_memories=memories[by_memory],
        live=len(live),
    )


def _stored(graph: faiss.IndexHNSWFlat) -> np.ndarray:
    """The graph's vectors, one row per chunk: a view of faiss's own storage, no copy."""
    storage = faiss.downcast_index(graph.storage)
    return faiss.rev_swig_ptr(storage.get_xb(), graph.ntotal * graph.d).reshape(
        graph.ntotal, graph.d
    )
