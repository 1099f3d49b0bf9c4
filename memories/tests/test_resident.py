"""A hot user's search data held in the process: the same answers as the SQL legs (every
``Ranker`` on the same corpora), used only while the user's generation says nothing was written
since it was read."""

import itertools
import time
import uuid
from concurrent.futures import Future

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core import vector_index
from memories import services
from memories.models import IndexStatus, Memory, MemoryChunk, SearchGeneration, UserVectorIndex
from memories.search import index_check, pipeline, rankers, resident, resident_ann, vectors
from memories.search.hits import Highlights, held_rows_read
from memories.search.rankers import Ranker, ResidentRanker, SqlRanker
from memories.search.resident import (
    ResidentSearch,
    resident_index_load,
    resident_indexes_forget,
    resident_search,
)
from memories.selectors import (
    MemoryFilters,
    memories_search,
    memories_similar,
    vector_index_forget,
)
from memories.tests.factories import MemoryFactory
from providers.embeddings import get_embedder

pytestmark = pytest.mark.django_db

PEOPLE = ["Maya", "Leo", "Ana"]
THINGS = [
    "adopted a rescue dog called Mochi from the shelter",
    "is training for the Lisbon half marathon in spring",
    "got an otter tattoo on her wrist to remember the river trip",
    "bakes sourdough bread every Sunday morning",
    "is learning to play the cello with a teacher from Porto",
    "booked a flight to Tokyo for the cherry blossom season",
    "fixed the bike's chain and the rear brake on Saturday",
    "reads science fiction novels about generation ships",
    "planted tomatoes, basil and chillies on the balcony",
    "collects vinyl records of seventies jazz",
    "started a new job as a nurse at the children's hospital",
    "is allergic to peanuts and carries an epipen",
    "and her sister repainted the kitchen a pale green",
]
QUERIES = [
    "What is the name of Maya's dog?",
    "Why did Leo choose an otter for the tattoo?",
    "musical instrument lessons",
    "Which city is the marathon in?",
    "food allergy",
    "zzz unknown words only",
]


@pytest.fixture(autouse=True)
def resident_for_everyone(settings):
    settings.MEMORY_RESIDENT_MIN_MEMORIES = 1
    settings.MEMORY_RESIDENT_MB = 64
    resident_indexes_forget()
    yield
    resident_indexes_forget()


@pytest.fixture
def diary(user, embed_now):
    memories = [
        MemoryFactory(user=user, content=f"{person} {thing}")
        for index, thing in enumerate(THINGS)
        for person in PEOPLE[: 1 + index % 3]
    ]
    embed_now(*memories)
    return memories


def model() -> str:
    return get_embedder().name


def heavy(user, *, ready: bool = True) -> None:
    """Give ``user`` their own vector index, as far as search can tell (or take it away)."""
    if ready:
        UserVectorIndex.objects.create(
            user=user, model=model(), dimensions=384, name="memories_test_hnsw",
            status=IndexStatus.READY, rows=MemoryChunk.objects.filter(user=user).count(),
        )  # fmt: skip
    else:
        UserVectorIndex.objects.filter(user=user).delete()
    vector_index_forget(user_id=user.pk, model=model())


def every_copy(user) -> list:
    """The copies a user can have: a light user's (exact) and a heavy user's (its graph)."""
    light = resident_index_load(user_id=user.pk, model=model())
    heavy(user)
    graph = resident_index_load(user_id=user.pk, model=model())
    heavy(user, ready=False)
    assert light.holds_vectors and graph.graph is not None
    return [light, graph]


def every_ranker(user, query, copies) -> list[Ranker]:
    """Every ranker of a user's search, SQL (exact) first: each must answer what it answers."""
    resident = resident_search(user_id=user.pk, model=model(), query=query)
    sql = SqlRanker(user=user, query=query, model=model(), filters=MemoryFilters(), heavy=False)
    return [sql, *(ResidentRanker(ResidentSearch(copy, resident.lexemes)) for copy in copies)]


def test_every_ranker_ranks_the_same_corpora_in_the_same_order(user, diary):
    # The heavy copy's graph is searched through at least SEARCH_CANDIDATES chunks: for a corpus
    # this small, every one, so it answers exactly.
    copies = every_copy(user)
    embedder = get_embedder()
    for query in QUERIES:
        vector = list(embedder.embed([query])[0])
        sql, *others = every_ranker(user, query, copies)
        for depth in (3, 50):
            expected = sql.rank(vector=vector, threshold=None, keyword=True, depth=depth)
            assert expected.path == "exact"
            for ranker in others:
                legs = ranker.rank(vector=vector, threshold=None, keyword=True, depth=depth)
                assert_same_ranking(legs.semantic, expected.semantic, tolerance=1e-6)
                assert_same_ranking(
                    [row[:2] for row in legs.keyword],
                    [row[:2] for row in expected.keyword],
                    tolerance=1e-9,
                )
                assert [row[2] for row in legs.keyword] == pytest.approx(
                    [row[2] for row in expected.keyword]
                )
        widest = sql.rank(vector=vector, threshold=None, keyword=False, depth=50)
        # A threshold cuts every ranker's semantic leg at the same place: between two
        # scores of the SQL answer, past its first one.
        scores = [score for _, score in widest.semantic]
        floor = next(
            (
                (above + below) / 2
                for above, below in itertools.pairwise(scores[1:])
                if above - below > 1e-5
            ),
            None,
        )
        if floor is None:  # every memory as near as the others (no word of it in the diary)
            continue
        cut = sql.rank(vector=vector, threshold=floor, keyword=False, depth=50)
        assert 0 < len(cut.semantic) < len(widest.semantic)
        for ranker in others:
            legs = ranker.rank(vector=vector, threshold=floor, keyword=False, depth=50)
            assert_same_ranking(legs.semantic, cut.semantic, tolerance=1e-6)
            assert legs.keyword == []


def assert_same_ranking(ours, theirs, *, tolerance):
    """The same scores in the same order, each memory with its own score; memories whose
    scores differ by less than ``tolerance`` (pgvector sums float32 in another order than
    numpy) may swap places, or swap in or out at the cut."""
    assert [score for _, score in ours] == pytest.approx(
        [score for _, score in theirs], abs=tolerance
    )
    scores = dict(theirs)
    for pk, score in ours:
        assert scores.get(pk, theirs[-1][1]) == pytest.approx(score, abs=tolerance)


def test_a_search_answers_from_the_copy_what_sql_answers(user, diary):
    query = "Why did Leo choose an otter for the tattoo?"
    from_sql = memories_search(user=user, query=query, mode="hybrid", top_k=8)
    resident_index_load(user_id=user.pk, model=model())

    from_copy = memories_search(user=user, query=query, mode="hybrid", top_k=8)

    assert (from_sql.vector_path, from_copy.vector_path) == ("exact", "resident")
    assert [hit.memory.pk for hit in from_copy.hits] == [hit.memory.pk for hit in from_sql.hits]
    assert [hit.score for hit in from_copy.hits] == pytest.approx(
        [hit.score for hit in from_sql.hits], abs=1e-5
    )
    assert from_copy.hits[0].highlights  # highlighted as before


def test_every_write_changes_the_generation_even_one_rolled_back(user, embed_now):
    def generation():
        return SearchGeneration.objects.get(user_id=user.pk).generation

    memory = MemoryFactory(user=user, content="first words")
    seen = [generation()]
    embed_now(memory)  # chunks inserted, the memory's status updated
    seen.append(generation())
    MemoryChunk.objects.filter(memory=memory).update(position=0)
    seen.append(generation())
    with pytest.raises(RuntimeError), transaction.atomic():
        MemoryFactory(user=user, content="never saved")
        rolled_back = generation()
        raise RuntimeError
    assert generation() == seen[-1]
    memory.delete()
    seen.append(generation())

    assert len({*seen, rolled_back}) == len(seen) + 1


def test_a_bulk_write_through_copy_is_seen_by_the_next_search(user, diary):
    resident_index_load(user_id=user.pk, model=model())
    before = SearchGeneration.objects.get(user_id=user.pk).generation

    services.memories_bulk_create(
        user=user, drafts=[services.MemoryDraft(content="Maya's kayak is yellow")]
    )

    assert SearchGeneration.objects.get(user_id=user.pk).generation != before
    found = memories_search(user=user, query="kayak", mode="keyword")
    assert [hit.memory.content for hit in found.hits] == ["Maya's kayak is yellow"]


def test_a_write_is_seen_by_the_next_search(user, diary, remember):
    resident_index_load(user_id=user.pk, model=model())
    assert memories_search(user=user, query="cello", mode="hybrid").vector_path == "resident"

    added = remember(user, "Leo sold his old cello to buy a theremin")
    after_add = memories_search(user=user, query="theremin", mode="hybrid")
    assert after_add.vector_path == "exact"  # the copy is stale: SQL answers
    assert after_add.hits[0].memory.pk == added.pk

    services.memory_update(memory=added, changes={"content": "Leo plays the oboe"})
    after_update = memories_search(user=user, query="theremin oboe", mode="keyword")
    assert [hit.memory.content for hit in after_update.hits] == ["Leo plays the oboe"]

    resident_index_load(user_id=user.pk, model=model())
    reloaded = memories_search(user=user, query="oboe", mode="hybrid")
    assert reloaded.vector_path == "resident"
    assert reloaded.hits[0].memory.pk == added.pk

    added.refresh_from_db()
    services.memory_delete(memory=added)
    after_delete = memories_search(user=user, query="oboe", mode="hybrid", top_k=100)
    assert added.pk not in [hit.memory.pk for hit in after_delete.hits]


def hit_fields(outcome) -> dict:
    """Each hit's row and highlights, by id (pgvector and numpy may order near ties apart)."""
    return {
        hit.memory.pk: ({f.attname: getattr(hit.memory, f.attname)
                         for f in Memory._meta.concrete_fields if f.name != "search_vector"},
                        hit.highlights)
        for hit in outcome.hits
    }  # fmt: skip


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_a_light_users_hits_are_read_from_their_copy_as_from_the_database(user, diary, mode):
    query = "Why did Leo choose an otter for the tattoo?"
    from_sql = memories_search(user=user, query=query, mode=mode, top_k=len(diary))
    copy = resident_index_load(user_id=user.pk, model=model())

    with CaptureQueriesContext(connection) as statements:
        from_copy = memories_search(user=user, query=query, mode=mode, top_k=len(diary))

    assert copy.rows is not None and len(copy.rows.values) == len(diary)
    assert copy.nbytes > copy.rows.nbytes > sum(len(m.content) for m in diary)
    assert from_copy.vector_path == ("" if mode == "keyword" else "resident")
    assert hit_fields(from_copy) == hit_fields(from_sql)
    # The generation check, then (when the keyword leg found a hit) its highlights: no row read.
    read = [s["sql"] for s in statements.captured_queries]
    assert len(read) == (1 if mode == "semantic" else 2), read
    assert all("ts_headline" in sql for sql in read[1:])
    # A hit's memory is the caller's own: changing it leaves the copy's rows as they were.
    for hit in from_copy.hits:
        hit.memory.tags.append("changed")
    again = memories_search(user=user, query=query, mode=mode, top_k=len(diary))
    assert all("changed" not in hit.memory.tags for hit in again.hits)


def test_rows_read_after_a_write_are_not_held(user, diary):
    generation = SearchGeneration.objects.get(user_id=user.pk).generation
    with connection.cursor() as cursor:
        assert held_rows_read(cursor, user_id=user.pk, generation=generation) is not None
        MemoryFactory(user=user, content="Ana learns to surf")
        assert held_rows_read(cursor, user_id=user.pk, generation=generation) is None


def test_a_copy_whose_rows_do_not_fit_is_kept_without_them(user, diary, settings):
    whole = resident_index_load(user_id=user.pk, model=model())
    settings.MEMORY_RESIDENT_MB = (whole.nbytes - whole.rows.nbytes / 2) / 1024 / 1024

    copy = resident_index_load(user_id=user.pk, model=model())

    assert copy.rows is None and copy.holds_vectors
    found = memories_search(user=user, query="otter tattoo", mode="hybrid", top_k=3)
    assert found.vector_path == "resident" and found.hits[0].highlights


def test_a_new_querys_highlights_are_read_while_it_embeds(user, diary, monkeypatch):
    # The keyword leg's first memories get their highlights before the vector is there; the
    # hits then show the same highlights as a search that read them after the ranking.
    query = "Which city is the marathon in?"
    expected = memories_search(user=user, query=query, mode="hybrid", top_k=5)
    resident_index_load(user_id=user.pk, model=model())
    order = []

    class Embedding(Future):
        def done(self):  # still embedding
            return False

        def result(self, timeout=None):
            order.append("vector")
            return list(get_embedder().embed([query])[0])

    monkeypatch.setattr(pipeline, "query_vector_started", lambda embedder, text: Embedding())
    monkeypatch.setattr(pipeline, "cached_query_vector", lambda embedder, text: None)
    read_now = Highlights.read_now

    def reading(self, ids):
        order.append(("highlights", len(ids)))
        read_now(self, ids)

    monkeypatch.setattr(Highlights, "read_now", reading)
    found = memories_search(user=user, query=query, mode="hybrid", top_k=5)

    assert order[0][0] == "highlights" and order[0][1] > 0 and order[1] == "vector"
    assert hit_fields(found) == hit_fields(expected)


def test_a_heavy_users_copy_ranks_by_meaning_through_its_graph(user, diary, auth_client):
    heavy(user)
    query = "Why did Leo choose an otter for the tattoo?"
    exact = SqlRanker(user=user, query=query, model=model(), filters=MemoryFilters(), heavy=False)
    vector = list(get_embedder().embed([query])[0])
    expected = exact.rank(vector=vector, threshold=None, keyword=False, depth=8).semantic

    copy = resident_index_load(user_id=user.pk, model=model())
    outcome = memories_search(user=user, query=query, mode="semantic", top_k=8)
    response = auth_client.post("/api/v1/memories/search", {"query": query}, format="json")

    # The graph holds the vectors, and the copy's size counts it.
    assert not copy.holds_vectors and copy.vectors.size == 0
    assert copy.nbytes > copy.graph.nbytes >= len(diary) * 384 * 4
    assert outcome.vector_path == "resident-ann"
    assert_same_ranking(
        [(hit.memory.pk, hit.semantic_score) for hit in outcome.hits], expected, tolerance=1e-5
    )
    assert response.status_code == 200, response.content
    assert response["Server-Timing"].endswith('desc="resident-ann"')
    heavy(user, ready=False)


def test_a_heavy_users_copy_read_again_after_writes_keeps_its_graph(user, diary, remember):
    # Built anew, their graph would cost ~17 s of a core per 100k chunks at every reload.
    heavy(user)
    first = resident_index_load(user_id=user.pk, model=model())
    added = remember(user, "Leo sold his old cello to buy a theremin")
    services.memory_delete(memory=diary[0])

    second = resident_index_load(user_id=user.pk, model=model())

    chunks = MemoryChunk.objects.filter(user=user, model=model())
    assert (
        second.graph.graph.ntotal == first.graph.graph.ntotal + chunks.filter(memory=added).count()
    )
    assert second.graph.live == chunks.count()
    copy = ResidentRanker(ResidentSearch(second, []))
    exact = SqlRanker(user=user, query="", model=model(), filters=MemoryFilters(), heavy=False)
    for query in [*QUERIES, "theremin", diary[0].content]:
        vector = list(get_embedder().embed([query])[0])
        expected = exact.rank(vector=vector, threshold=None, keyword=False, depth=8).semantic
        found = copy.rank(vector=vector, threshold=None, keyword=False, depth=8).semantic
        assert_same_ranking(found, expected, tolerance=1e-5)
    heavy(user, ready=False)


def test_a_heavy_users_graph_still_scores_the_keyword_candidates_it_misses(
    user, diary, monkeypatch
):
    # Hybrid fuses each keyword candidate with its own similarity: one the graph misses would
    # get the semantic leg's lowest instead, and fall in the fused order.
    query = "Why did Leo choose an otter for the tattoo?"
    copies = every_copy(user)
    sql, _, by_graph = every_ranker(user, query, copies)
    vector = list(get_embedder().embed([query])[0])
    expected = sql.rank(vector=vector, threshold=None, keyword=True, depth=8)
    missed = expected.keyword[0][0]
    assert missed in dict(expected.semantic)
    number = copies[1]._numbers([missed])[0]
    search = resident_ann.ChunkGraph._search

    def missing_it(self, query, wanted, *, exact):
        similarities, rows = search(self, query, wanted, exact=exact)
        kept = self.memories[rows] != number
        return similarities[kept], rows[kept]

    monkeypatch.setattr(resident_ann.ChunkGraph, "_search", missing_it)
    both = by_graph.rank(vector=vector, threshold=None, keyword=True, depth=8)
    words = by_graph.rank(vector=None, threshold=None, keyword=True, depth=8)
    apart = by_graph.rank(
        vector=vector,
        threshold=None,
        keyword=False,
        depth=8,
        exact_for=[pk for pk, _, _ in words.keyword],
    )
    alone = by_graph.rank(vector=vector, threshold=None, keyword=False, depth=8)

    assert_same_ranking(both.semantic, expected.semantic, tolerance=1e-6)
    assert_same_ranking(apart.semantic, expected.semantic, tolerance=1e-6)
    assert missed not in dict(alone.semantic)  # the graph did miss it


def test_a_heavy_users_index_found_stuck_is_replaced_by_the_exact_search(user, diary, monkeypatch):
    # Their index in PostgreSQL answers their filtered searches, and the others while their copy
    # is loaded again after a write. An answer from the wrong part of the space (here: the
    # farthest chunks) is caught by a sample of their chunks, and the exact search answers.
    query = "Why did Leo choose an otter for the tattoo?"
    vector = list(get_embedder().embed([query])[0])
    exact = SqlRanker(user=user, query=query, model=model(), filters=MemoryFilters(), heavy=False)
    expected = exact.rank(vector=vector, threshold=None, keyword=False, depth=5).semantic
    nearest = vector_index.cosine_distance("c.embedding", 384)
    written = rankers.semantic_sql

    def stuck(**kwargs):
        sql, params, ef_search = written(**kwargs)
        return sql.replace(f"ORDER BY {nearest}", f"ORDER BY {nearest} DESC"), params, ef_search

    def search(filters=None, depth=5):
        filters = filters or MemoryFilters()
        ranker = SqlRanker(user=user, query=query, model=model(), filters=filters, heavy=True)
        return ranker.rank(vector=vector, threshold=None, keyword=False, depth=depth)

    heavy(user)
    # Read now, as the background reader would (its connection sees no test data).
    index_check.chunk_sample_load(user_id=user.pk, model=model())
    assert search().path == "hnsw"  # a right answer passes
    # So does a filtered one, which leaves out the nearer memories its filter does.
    Memory.objects.filter(user=user, content__startswith="Ana").update(session_id="ana")
    assert search(MemoryFilters(session_id="ana"), depth=2).path == "hnsw"
    monkeypatch.setattr(rankers, "semantic_sql", stuck)
    monkeypatch.setattr(vectors, "semantic_sql", stuck)
    caught = search()
    # Reads by meaning alone (extraction's similar facts) are checked as search is.
    similar = memories_similar(user=user, texts=[query], top_k=5, filters=MemoryFilters())[0]

    assert caught.path == "hnsw+exact"
    assert_same_ranking(caught.semantic, expected, tolerance=1e-6)
    assert_same_ranking([(hit.memory.pk, hit.score) for hit in similar], expected, tolerance=1e-5)
    heavy(user, ready=False)


def test_a_heavy_users_sample_is_read_ahead_while_their_copy_answers(user, diary, monkeypatch):
    # Their first write sends their next search to their index: its check must already have
    # the sample, so any search of theirs asks for it (in the background), once.
    reads = []
    monkeypatch.setattr(index_check._READER, "submit", lambda work, key: reads.append(key))
    heavy(user)
    resident_index_load(user_id=user.pk, model=model())
    query = "Why did Leo choose an otter for the tattoo?"

    first = memories_search(user=user, query=query, mode="semantic", top_k=5)
    memories_search(user=user, query=query, mode="semantic", top_k=5)

    assert first.vector_path == "resident-ann"
    assert reads == [(user.pk, model())]
    heavy(user, ready=False)


def test_a_heavy_users_sample_is_the_chunks_of_every_nth_memory_by_id(user, diary, monkeypatch):
    everything = index_check.chunk_sample_read(user_id=user.pk, model=model())
    monkeypatch.setattr(index_check, "SENTINELS", len(diary) // 2)
    half = index_check.chunk_sample_read(user_id=user.pk, model=model())

    ids = sorted(memory.pk for memory in diary)
    chunks = MemoryChunk.objects.filter(user=user, model=model())
    assert everything.total == half.total == chunks.count()
    assert sorted(uuid.UUID(bytes=v.tobytes()) for v in everything.memories) == ids
    assert sorted(uuid.UUID(bytes=v.tobytes()) for v in half.memories) == ids[1::2]
    stored = {chunk.memory_id: np.asarray(chunk.embedding) for chunk in chunks}
    for memory, sampled in zip(half.memories, half.vectors, strict=True):
        embedding = stored[uuid.UUID(bytes=memory.tobytes())]
        assert sampled == pytest.approx(embedding / np.linalg.norm(embedding), abs=1e-6)


@pytest.mark.parametrize("beside_the_words", [False, True])
def test_a_heavy_user_whose_vectors_do_not_fit_is_copied_with_their_words(
    user, diary, settings, beside_the_words
):
    heavy(user)
    query = "Why did Leo choose an otter for the tattoo?"
    settings.MEMORY_RESIDENT_MB = 0
    from_sql = memories_search(user=user, query=query, mode="hybrid", top_k=8)
    # The words' few kB fit; the vectors and their graph do not (or fit only without the words).
    chunks = MemoryChunk.objects.filter(user=user).count()
    graph = chunks * (384 * 4 + resident_ann.GRAPH_BYTES_PER_CHUNK) + 100 * beside_the_words
    settings.MEMORY_RESIDENT_MB = (graph if beside_the_words else chunks * 384 * 4) / 1024 / 1024

    copy = resident_index_load(user_id=user.pk, model=model())
    outcome = memories_search(user=user, query=query, mode="hybrid", top_k=8)

    assert copy.graph is None and not copy.holds_vectors
    # The user's index, then its exact guard (this diary holds fewer memories than asked for).
    assert outcome.vector_path == from_sql.vector_path == "hnsw+exact"
    assert [hit.memory.pk for hit in outcome.hits] == [hit.memory.pk for hit in from_sql.hits]
    assert [hit.keyword_score for hit in outcome.hits] == pytest.approx(
        [hit.keyword_score for hit in from_sql.hits]
    )
    heavy(user, ready=False)


def test_filtered_searches_use_sql(user, diary):
    resident_index_load(user_id=user.pk, model=model())
    outcome = memories_search(
        user=user, query="dog", mode="semantic", filters=MemoryFilters(source="api")
    )
    assert outcome.vector_path == "exact"


def test_users_below_the_minimum_or_past_the_budget_are_not_copied(user, diary, settings):
    settings.MEMORY_RESIDENT_MIN_MEMORIES = len(diary) + 1
    assert resident_index_load(user_id=user.pk, model=model()) is None
    settings.MEMORY_RESIDENT_MIN_MEMORIES = 1
    settings.MEMORY_RESIDENT_MB = 0.01  # ~10 kB: less than this diary's vectors
    resident_index_load(user_id=user.pk, model=model())
    assert resident_search(user_id=user.pk, model=model(), query="dog") is None


def test_the_least_recently_searched_copy_goes_first(user, other_user, diary, remember, settings):
    remember(other_user, "Ana keeps bees on the roof")
    mine = resident_index_load(user_id=user.pk, model=model())
    theirs = resident_index_load(user_id=other_user.pk, model=model())
    assert resident_search(user_id=user.pk, model=model(), query="dog") is not None
    settings.MEMORY_RESIDENT_MB = (mine.nbytes + theirs.nbytes - 1) / 1024 / 1024

    resident_index_load(user_id=user.pk, model=model())  # reloaded: the other one is older

    assert resident_search(user_id=user.pk, model=model(), query="dog") is not None
    assert resident_search(user_id=other_user.pk, model=model(), query="bees") is None


@pytest.mark.django_db(transaction=True)
def test_a_searching_user_is_copied_in_the_background(user, diary):
    assert memories_search(user=user, query="dog", mode="semantic").vector_path == "exact"
    deadline = time.monotonic() + 30
    while resident_search(user_id=user.pk, model=model(), query="dog") is None:
        assert time.monotonic() < deadline, "the copy was never loaded"
        time.sleep(0.05)
    assert memories_search(user=user, query="dog", mode="semantic").vector_path == "resident"


def test_users_remembered_between_loads_are_forgotten_once_expired(monkeypatch):
    copies = resident._Copies()
    monkeypatch.setattr(resident, "TRACKED_USERS_MAX", 3)
    monkeypatch.setattr(resident, "RELOAD_AFTER_SECONDS", 0.0)
    for number in range(10):
        assert copies.wanted((number, "model"))
        copies.put((number, "model"), None)  # too small: skipped for a while
    assert len(copies.skipped) == 10
    now = time.monotonic()
    monkeypatch.setattr(resident.time, "monotonic", lambda: now + 3600)

    assert copies.wanted(("new", "model"))

    assert len(copies.skipped) + len(copies.not_before) <= 3


def test_a_users_next_load_waits_nine_times_as_long_as_their_last_took(monkeypatch):
    """A heavy user writing as they chat makes every copy stale before it is ready: their loads
    must not follow each other back to back."""
    now = [1000.0]
    monkeypatch.setattr(resident.time, "monotonic", lambda: now[0])
    copies, key = resident._Copies(), ("heavy", "model")
    assert copies.wanted(key)
    now[0] += 30  # a heavy user's load: their graph
    copies.put(key, None)
    copies.skipped.clear()  # loaded, yet stale at once (a write meanwhile)

    now[0] += 269
    assert not copies.wanted(key)
    now[0] += 2
    assert copies.wanted(key)
    now[0] += 0.1  # a light user's load, or a failed one: the two seconds between starts hold
    copies.failed(key)
    now[0] += 1.8
    assert not copies.wanted(key)
    now[0] += 0.2
    assert copies.wanted(key)


def test_many_users_searching_at_once_are_walked_at_most_once_a_second(monkeypatch):
    copies = resident._Copies()
    monkeypatch.setattr(resident, "TRACKED_USERS_MAX", 3)
    for number in range(10):
        copies.wanted((number, "model"))
        copies.put((number, "model"), None)  # skipped, and none expires within the test
    walked = copies.skipped

    copies.wanted(("another", "model"))

    assert copies.skipped is walked  # the same dict: not rebuilt again within the second
    now = time.monotonic()
    monkeypatch.setattr(resident.time, "monotonic", lambda: now + 1.5)
    copies.wanted(("yet another", "model"))
    assert copies.skipped is not walked


def test_a_query_with_nul_characters_is_searched_in_every_mode_with_or_without_a_copy(user, diary):
    # Chat, agents and MCP pass text that no serializer has checked for NUL.
    query = "dog\x00called\x00Mochi"
    for loaded in (False, True):
        if loaded:
            resident_index_load(user_id=user.pk, model=model())
        for mode in ("semantic", "keyword", "hybrid"):
            outcome = memories_search(user=user, query=query, mode=mode, top_k=3)
            assert "Mochi" in outcome.hits[0].memory.content, (loaded, mode)
