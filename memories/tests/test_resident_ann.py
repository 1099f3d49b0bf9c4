"""A heavy user's chunks in an HNSW graph: each memory's nearest chunk, as an exact scan finds
it, when memories have several chunks, and when the graph must widen or scan."""

import numpy as np
import pytest

from memories.search import resident_ann
from memories.search.resident_ann import chunk_graph_build

CHUNKS_PER_MEMORY = 6


@pytest.fixture(scope="module")
def chunks():
    """500 memories of 6 chunks each, clustered (a memory's chunks near one another), as the
    copy hands them over: grouped by memory number, unit length."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((500, 32))
    vectors = np.repeat(centres, CHUNKS_PER_MEMORY, axis=0) + rng.standard_normal((3000, 32)) / 2
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return vectors, np.repeat(np.arange(500, dtype=np.int32), CHUNKS_PER_MEMORY)


def exact(vectors, memories, query, limit):
    best = np.maximum.reduceat(vectors @ query, np.arange(0, len(vectors), CHUNKS_PER_MEMORY))
    order = np.argsort(-best, kind="stable")[:limit]
    return dict(zip(order.tolist(), best[order].tolist(), strict=True))


def top(found, limit):
    numbers, similarities, _ = found
    order = np.argsort(-similarities, kind="stable")[:limit]
    return dict(zip(numbers[order].tolist(), similarities[order].tolist(), strict=True))


@pytest.mark.parametrize("limit", [1, 10, 50])
def test_each_memory_is_ranked_by_its_nearest_chunk(chunks, limit):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)
    for query in vectors[::97]:
        found = graph.nearest(query, limit=limit, threshold=None)

        # The graph's chunks came from enough memories, widened if need be, without a scan.
        assert len(found[0]) >= limit and not found[2]
        assert top(found, limit) == pytest.approx(exact(vectors, memories, query, limit))


def test_past_the_widest_graph_search_every_vector_is_scanned(chunks, monkeypatch):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)
    monkeypatch.setattr(resident_ann, "EXACT_PAST", 10)

    found = graph.nearest(vectors[5], limit=20, threshold=None)

    assert found[2]
    assert top(found, 20) == pytest.approx(exact(vectors, memories, vectors[5], 20))


def test_a_threshold_stops_the_widening_once_the_chunks_fall_below_it(chunks):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)
    query = vectors[0]
    expected = {
        number: similarity
        for number, similarity in exact(vectors, memories, query, 500).items()
        if similarity >= 0.5
    }

    numbers, similarities, _ = graph.nearest(query, limit=500, threshold=0.5)

    kept = similarities >= 0.5
    assert dict(zip(numbers[kept].tolist(), similarities[kept].tolist(), strict=True)) == (
        pytest.approx(expected)
    )
    assert len(numbers) < 500  # it stopped before the rest


def test_the_graph_counts_its_vectors_and_links(chunks):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)

    assert graph.nbytes > vectors.nbytes + memories.nbytes
    assert graph.nbytes < vectors.nbytes + len(vectors) * resident_ann.GRAPH_BYTES_PER_CHUNK * 2


def test_memories_asked_for_are_scored_whether_the_graph_finds_them_or_not(chunks):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)
    query = vectors[0]
    farthest = list(exact(vectors, memories, query, 500))[-3:]

    found = graph.nearest(query, limit=5, threshold=None, also=np.array(sorted(farthest)))

    expected = exact(vectors, memories, query, 500)
    scored = dict(zip(found[0].tolist(), found[1].tolist(), strict=True))
    assert set(farthest) <= set(scored)
    # Every memory looked at has its nearest chunk's similarity, over all its chunks.
    assert scored == pytest.approx({number: expected[number] for number in scored})


def test_a_search_stuck_elsewhere_in_the_graph_is_caught_and_every_vector_scanned(
    chunks, monkeypatch
):
    vectors, memories = chunks
    graph = chunk_graph_build(vectors, memories)
    query = vectors[0]
    search = resident_ann.ChunkGraph._search

    walks = []

    def stuck(self, query, wanted, *, exact):
        if exact:
            return search(self, query, wanted, exact=True)
        walks.append(wanted)
        # The graph's walk ended among the chunks farthest from the query.
        similarities = vectors @ query
        rows = np.argsort(similarities)[:wanted][::-1]
        return similarities[rows], rows

    monkeypatch.setattr(resident_ann.ChunkGraph, "_search", stuck)
    found = graph.nearest(query, limit=10, threshold=None)

    assert found[2]  # scanned
    assert top(found, 10) == pytest.approx(exact(vectors, memories, query, 10))
    # Widening past a stuck walk scans again rather than walking the graph again.
    assert walks == [20]
