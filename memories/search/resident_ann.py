"""A heavy user's chunks in an HNSW graph held in the process: the semantic leg of their copy.

A user with their own HNSW index in PostgreSQL (100k memories at ``make bench-memories``) is too
big for the copy's exact scan (a product of 100k x 384 floats, ~20 ms on one core), and the
round trip to their index cost more than the rest of the search. So their copy (resident.py)
puts the vectors it reads into an HNSW graph of its own, built by the background loader that
reads the copy: ~0.3 ms a query. The graph holds the vectors (the copy keeps no other matrix of
them), so its answers are exact inner products of unit vectors, that is the same cosine
similarities the exact search computes.

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

# One thread: a search is one query (nothing to share out) and a build runs in the copies'
# loader thread beside requests; OpenMP's threads would spin on the cores the query's embedding
# and PostgreSQL need, as numpy's BLAS threads did (core/numeric.py).
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class ChunkGraph:
    """Unit-length chunk vectors in an HNSW graph; ``memories``: the memory number of each
    chunk, in the graph's order."""

    graph: faiss.IndexHNSWFlat
    memories: np.ndarray
    sentinel_rows: np.ndarray  # SENTINELS rows of the graph, and their vectors
    sentinels: np.ndarray

    @property
    def nbytes(self) -> int:
        hnsw = self.graph.hnsw
        vectors = self.graph.ntotal * self.graph.d * 4
        links = (hnsw.neighbors.size() + hnsw.levels.size()) * 4 + hnsw.offsets.size() * 8
        sampled = self.sentinel_rows.nbytes + self.sentinels.nbytes
        return vectors + links + self.memories.nbytes + sampled

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
        total = self.graph.ntotal
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
        starts = np.searchsorted(self.memories, numbers, "left")
        counts = np.searchsorted(self.memories, numbers, "right") - starts
        numbers, starts, counts = numbers[counts > 0], starts[counts > 0], counts[counts > 0]
        if not len(numbers):
            return numbers, np.zeros(0, dtype=np.float64)
        firsts = np.cumsum(counts) - counts  # each memory's first row among those read
        rows = np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))
        similarities = self.graph.storage.reconstruct_batch(rows) @ query
        return numbers, np.maximum.reduceat(similarities, firsts).astype(np.float64)

    def _missed(self, query: np.ndarray, similarities: np.ndarray, rows: np.ndarray) -> bool:
        """Whether the graph's answer left out more of the sampled chunks nearer than its last
        one than its edge explains: its walk ended in another part of the space."""
        if not len(rows):
            return self.graph.ntotal > 0
        nearer = self.sentinel_rows[self.sentinels @ query > similarities[-1]]
        unfound = np.count_nonzero(~np.isin(nearer, rows))
        return too_many_missed(
            unfound, answered=len(rows), sampled=len(self.sentinel_rows), total=self.graph.ntotal
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
        found = rows[0] >= 0  # fewer chunks reachable than asked for
        return similarities[0][found], rows[0][found]


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
    rows = np.unique(
        np.linspace(0, len(vectors) - 1, min(len(vectors), SENTINELS)).astype(np.int64)
    )
    return ChunkGraph(graph, memories, rows, np.ascontiguousarray(vectors[rows], dtype=np.float32))
