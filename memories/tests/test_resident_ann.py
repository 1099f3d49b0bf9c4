"""A heavy user's chunks in an HNSW graph: each memory's nearest chunk, as an exact scan finds
it, when memories have several chunks, and when the graph must widen or scan."""

import numpy as np
import pytest

from memories.search import resident_ann
from memories.search.resident_ann import chunk_graph_build, chunk_graph_updated

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
    """Each memory's nearest chunk, exactly, the ``limit`` best (ties by number): what a graph
    must answer."""
    best = {}
    for number, similarity in zip(memories.tolist(), (vectors @ query).tolist(), strict=True):
        best[number] = max(best.get(number, -2.0), similarity)
    order = sorted(best, key=lambda number: (-best[number], number))[:limit]
    return {number: best[number] for number in order}


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


def memory_ids(count, rng):
    """``count`` ascending 16-byte ids, each 4 apart from the next at least (room for more)."""
    values = np.sort(rng.choice(2**60, count, replace=False)) * 4
    return [int(value).to_bytes(16, "big") for value in values]


def written_since(chunks):
    """The chunks of ``chunks``' memories after some writes, as a copy's next read hands them
    over: ids (ascending) for the numbers, five memories deleted, one re-embedded, three new
    ones whose ids fall among the others' (every later number moves), each memory's chunks in
    another order than before (the database's)."""
    vectors, memories = chunks
    rng = np.random.default_rng(5)
    ids = memory_ids(500, rng)
    by_id = {ids[number]: vectors[memories == number] for number in range(500)}
    for number in range(10, 15):
        del by_id[ids[number]]
    changed = by_id[ids[20]].copy()
    changed[3] = -changed[3]  # unit length still
    by_id[ids[20]] = changed
    for between in (0, 250, 499):  # just after these memories' ids
        added = (int.from_bytes(ids[between], "big") + 1).to_bytes(16, "big")
        fresh = rng.standard_normal((2, 32))
        by_id[added] = (fresh / np.linalg.norm(fresh, axis=1, keepdims=True)).astype(np.float32)
    new_ids = sorted(by_id)
    blocks = [by_id[key][::-1] for key in new_ids]
    numbers = np.repeat(np.arange(len(new_ids), dtype=np.int32), [len(b) for b in blocks])
    new_vectors = np.concatenate(blocks)
    return np.array(ids, dtype="S16"), np.array(new_ids, dtype="S16"), new_vectors, numbers


def test_a_graph_read_again_keeps_what_did_not_change_and_answers_as_a_new_one(chunks):
    vectors, memories = chunks
    ids, new_ids, new_vectors, numbers = written_since(chunks)
    before = chunk_graph_build(vectors, memories)

    graph = chunk_graph_updated(
        before, previous_ids=ids, ids=new_ids, vectors=new_vectors, memories=numbers
    )

    # Only the new and the changed memories' chunks were added; the gone and changed masked.
    assert graph is not None and graph.graph is not before.graph
    assert graph.graph.ntotal == len(vectors) + 3 * 2 + CHUNKS_PER_MEMORY
    assert graph.live == len(new_vectors)
    assert np.count_nonzero(graph.memories < 0) == 6 * CHUNKS_PER_MEMORY
    assert before.graph.ntotal == len(vectors)  # the copy in use is left as it was
    for query in [*new_vectors[::53], new_vectors[numbers == 21][0], vectors[memories == 12][0]]:
        for limit in (1, 10, 50):
            found = graph.nearest(query, limit=limit, threshold=None)
            assert top(found, limit) == pytest.approx(exact(new_vectors, numbers, query, limit))


def test_a_graph_with_too_many_changes_is_built_anew(chunks, monkeypatch):
    vectors, memories = chunks
    ids, new_ids, new_vectors, numbers = written_since(chunks)
    before = chunk_graph_build(vectors, memories)
    monkeypatch.setattr(resident_ann, "MASKED_PAST", 0.01)

    assert (
        chunk_graph_updated(
            before, previous_ids=ids, ids=new_ids, vectors=new_vectors, memories=numbers
        )
        is None
    )


def test_a_graph_read_again_with_nothing_changed_is_the_same_graph(chunks):
    vectors, memories = chunks
    ids = np.array(memory_ids(500, np.random.default_rng(6)), dtype="S16")
    before = chunk_graph_build(vectors, memories)
    reversed_within = np.concatenate([vectors[memories == number][::-1] for number in range(500)])

    graph = chunk_graph_updated(
        before, previous_ids=ids, ids=ids, vectors=reversed_within, memories=memories
    )

    assert graph is not None and graph.graph is before.graph and graph.live == len(vectors)
