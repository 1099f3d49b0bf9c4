"""Search against real PostgreSQL + pgvector: exact for small users, a per-user HNSW index past
the threshold with the exact guard behind it, full-text, and their fusion."""

import threading
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import ServiceUnavailable
from memories import services
from memories.models import IndexStatus, MemoryChunk, UserVectorIndex
from memories.search.fusion import fuse
from memories.search.hits import WHOLE_TEXT_CHARS
from memories.search.query_vectors import query_vectors_forget
from memories.search.resident import resident_index_load, resident_indexes_forget
from memories.selectors import MemoryFilters, memories_query_prefetch, memories_search
from memories.services import MemoryDraft
from memories.tests.factories import MemoryFactory
from providers.embeddings import EmbeddingUnavailable, get_embedder

pytestmark = pytest.mark.django_db

NOTES = [
    "Python code review notes: use dataclasses and type hints",
    "Lasagna recipe with spinach ricotta and fresh basil",
    "Flight to Lisbon booked for May, hotel near the river",
    "Django ORM tips: select_related avoids extra Python queries",
]


@pytest.fixture
def notes(user, embed_now):
    memories = [MemoryFactory(user=user, content=text) for text in NOTES]
    embed_now(*memories)
    return memories


def ids(outcome):
    return [hit.memory.pk for hit in outcome.hits]


def test_semantic_search_ranks_by_similarity_and_uses_exact_search(user, notes):
    outcome = memories_search(user=user, query="python code", mode="semantic", top_k=2)

    assert ids(outcome)[0] == notes[0].pk
    assert outcome.vector_path == "exact"
    assert outcome.hits[0].score > outcome.hits[1].score


def test_results_are_only_the_callers_own(user, other_user, notes, embed_now):
    theirs = MemoryFactory(user=other_user, content=NOTES[0])
    embed_now(theirs)

    for mode in ("semantic", "keyword", "hybrid"):
        outcome = memories_search(user=user, query="python code", mode=mode, top_k=100)
        assert theirs.pk not in ids(outcome)
        assert {hit.memory.user_id for hit in outcome.hits} == {user.pk}


def test_keyword_search_uses_full_text_with_highlights(user, notes):
    outcome = memories_search(user=user, query="lasagna recipes", mode="keyword")

    assert ids(outcome) == [notes[1].pk]
    assert "<mark>Lasagna</mark>" in outcome.hits[0].highlights[0]
    assert 0 < outcome.hits[0].score <= 1


def test_a_short_memory_is_highlighted_whole_and_a_long_one_in_fragments(user):
    short = "My dog is named Biscuit and he <b>loves</b> the beach."
    long = " ".join(["Filler words about nothing in particular."] * 10 + ["My dog is Biscuit."] * 2)
    for content in (short, long):
        services.memory_create(user=user, draft=MemoryDraft(content=content))

    hits = memories_search(user=user, query="dog", mode="keyword").hits
    whole = next(hit for hit in hits if hit.memory.content == short).highlights
    cut = next(hit for hit in hits if hit.memory.content == long).highlights

    assert whole == ["My <mark>dog</mark> is named Biscuit and he <b>loves</b> the beach."]
    assert len(long) > WHOLE_TEXT_CHARS and all(len(part) < len(long) for part in cut)
    assert all("<mark>dog</mark>" in part for part in cut)


def test_hybrid_fuses_both_lists(user, notes):
    outcome = memories_search(user=user, query="python queries", mode="hybrid", top_k=4)

    # "python" is in notes 0 and 3, "queries" only in note 3: both lists put note 3 high.
    assert ids(outcome)[0] == notes[3].pk
    assert outcome.mode == "hybrid"
    assert len(outcome.hits) == 4


def test_hybrid_boosts_are_off_unless_asked(user, embed_now):
    old = MemoryFactory(user=user, content="tea notes one", importance=0.1)
    new = MemoryFactory(user=user, content="tea notes two", importance=1.0)
    old.created_at = timezone.now() - timedelta(days=365)
    old.save()
    embed_now(old, new)

    plain = memories_search(user=user, query="tea notes one", mode="hybrid", top_k=2)
    boosted = memories_search(
        user=user,
        query="tea notes one",
        mode="hybrid",
        top_k=2,
        importance_boost=1,
        recency_boost=1,
    )

    assert ids(plain)[0] == old.pk
    assert ids(boosted)[0] == new.pk


def test_threshold_returns_every_memory_above_it_and_none_below(user, embed_now):
    close = [MemoryFactory(user=user, content=f"garden tomatoes variant {i}") for i in range(5)]
    far = [MemoryFactory(user=user, content=f"quantum chromodynamics {i}") for i in range(5)]
    embed_now(*close, *far)

    outcome = memories_search(
        user=user, query="garden tomatoes", mode="semantic", top_k=100, threshold=0.5
    )

    assert set(ids(outcome)) == {memory.pk for memory in close}
    assert all(hit.score >= 0.5 for hit in outcome.hits)


def test_filters_apply_to_every_mode(user, embed_now):
    now = timezone.now()
    match = MemoryFactory(
        user=user,
        content="python packaging notes",
        provider="claude",
        tags=["work", "python"],
        agent_id="a1",
        metadata={"project": "engram", "n": 3},
    )
    others = [
        MemoryFactory(user=user, content="python packaging notes too", provider="chatgpt"),
        MemoryFactory(user=user, content="python packaging more", provider="claude", tags=["x"]),
    ]
    embed_now(match, *others)
    filters = MemoryFilters(
        provider="claude",
        tags=["python"],
        agent_id="a1",
        metadata={"project": "engram", "n": 3},
        since=now - timedelta(hours=1),
        until=now + timedelta(hours=1),
    )

    for mode in ("semantic", "keyword", "hybrid"):
        outcome = memories_search(user=user, query="python packaging", mode=mode, filters=filters)
        assert ids(outcome) == [match.pk], mode


def test_search_returns_memories_not_chunks(user, embed_now, settings):
    settings.MEMORY_CHUNK_TOKENS = 10
    settings.MEMORY_CHUNK_OVERLAP_TOKENS = 2
    long = MemoryFactory(user=user, content=" ".join(["orchid watering schedule"] * 20))
    embed_now(long)
    assert long.chunks.count() > 1

    outcome = memories_search(user=user, query="orchid watering", mode="semantic", top_k=10)

    assert ids(outcome) == [long.pk]


def test_memories_of_many_chunks_do_not_crowd_out_the_others(user, embed_now, settings):
    # The nearest 20 chunks all belong to three long memories: the search must still rank
    # the other memories by their own best chunk, as brute force does.
    settings.MEMORY_CHUNK_TOKENS = 10
    settings.MEMORY_CHUNK_OVERLAP_TOKENS = 2
    long = [
        MemoryFactory(user=user, content=" ".join([f"orchid watering schedule {n}"] * 20))
        for n in range(3)
    ]
    short = [
        MemoryFactory(user=user, content=f"orchid note {n} on repotting and light")
        for n in range(12)
    ]
    embed_now(*long, *short)
    assert sum(memory.chunks.count() for memory in long) > 20

    outcome = memories_search(user=user, query="orchid watering", mode="semantic", top_k=10)

    assert len(outcome.hits) == 10
    assert [hit.score for hit in outcome.hits] == pytest.approx(
        exact_top_scores(user, "orchid watering", 10), abs=1e-4
    )


def exact_top_scores(user, query, k):
    """Brute force in numpy: the similarities of the true nearest memories of ``user``."""
    embedder = get_embedder()
    q = embedder.embed([query])[0]
    best: dict = {}
    for memory_id, vector in MemoryChunk.objects.filter(user=user).values_list(
        "memory_id", "embedding"
    ):
        best[memory_id] = max(best.get(memory_id, -1.0), float(np.asarray(vector) @ q))
    return sorted((round(score, 4) for score in best.values()), reverse=True)[:k]


@pytest.mark.django_db(transaction=True)
def test_user_above_the_threshold_is_searched_through_their_own_index(
    settings, django_capture_on_commit_callbacks
):
    from accounts.tests.factories import UserFactory

    settings.MEMORY_HNSW_USER_THRESHOLD = 200
    heavy, light = UserFactory(), UserFactory()
    topics = ["python", "garden", "travel", "recipe", "music", "finance", "health", "books"]
    drafts = [
        services.MemoryDraft(
            content=f"{topics[i % 8]} note {i} on {topics[i * 3 % 8]} and {topics[i * 5 % 8]}",
            provider="claude" if i % 10 == 0 else "chatgpt",
        )
        for i in range(300)
    ]
    # Through the services, as the API saves them: commit, embed (eager task), index build task.
    services.memories_bulk_create(user=heavy, drafts=drafts)
    services.memories_bulk_create(user=light, drafts=drafts[:50])

    index = UserVectorIndex.objects.get(user=heavy)
    assert index.status == IndexStatus.READY
    assert not UserVectorIndex.objects.filter(user=light).exists()

    with CaptureQueriesContext(connection) as queries:
        outcome = memories_search(user=heavy, query="python garden", mode="semantic", top_k=10)
    assert outcome.vector_path == "hnsw"
    # Recall 1.0: the same similarities as brute force (the lexical test embedder has ties).
    assert [round(hit.score, 4) for hit in outcome.hits] == exact_top_scores(
        heavy, "python garden", 10
    )

    # The query the search ran really goes through the heavy user's partial index.
    hnsw_sql = next(
        q["sql"]
        for q in queries.captured_queries
        if "LIMIT" in q["sql"] and "vector(384)" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memorychunk")  # as autovacuum would have by now
        # At 300 rows pgvector 0.8's costs rightly prefer sorting every distance (at the real
        # threshold, 10,000, they pick the index): forbid the sort to see that the partial index
        # is the one the statement can be answered from.
        cursor.execute("SET enable_sort = off")
        cursor.execute("EXPLAIN " + hnsw_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_sort")
    assert index.name in plan
    # The heavy user's keyword search has its own partial GIN index too.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            [services.text_index_name(heavy.pk)],
        )
        assert "USING gin" in cursor.fetchone()[0]
    keyword = memories_search(user=heavy, query="python", mode="keyword", top_k=5)
    assert len(keyword.hits) == 5

    # A filter is applied inside the index's scan, which goes on until enough rows pass it
    # (pgvector 0.8's iterative scan): every one of the 30 matching memories.
    only_claude = MemoryFilters(provider="claude")
    filtered = memories_search(
        user=heavy, query="python garden", mode="semantic", top_k=30, filters=only_claude
    )
    assert filtered.vector_path == "hnsw"
    assert len(filtered.hits) == 30
    assert {hit.memory.provider for hit in filtered.hits} == {"claude"}
    # Asking for more than match: only the exact search can say there are no more.
    guarded = memories_search(
        user=heavy, query="python garden", mode="semantic", top_k=40, filters=only_claude
    )
    assert guarded.vector_path == "hnsw+exact"
    assert len(guarded.hits) == 30

    light_outcome = memories_search(user=light, query="python garden", mode="semantic")
    assert light_outcome.vector_path == "exact"
    assert {hit.memory.user_id for hit in light_outcome.hits} == {light.pk}


def test_keyword_search_matches_any_word_and_weighs_rare_words_over_common_ones(user, embed_now):
    # The name is in every memory but one; the question's rare words are only in that one.
    said = [
        "the weather was awful today",
        "I made pasta with garlic for dinner",
        "my train was late again this morning",
        "we watched a documentary about volcanoes",
        "the new cafe downtown sells great cake",
        "I cleaned the whole apartment on Sunday",
        "my phone battery keeps dying",
        "the gym was crowded after work",
    ]
    chatter = [MemoryFactory(user=user, content=f"Maya: {text}.") for text in said]
    tattoo = MemoryFactory(user=user, content="Leo: I finally got an otter tattoo on my arm.")
    embed_now(*chatter, tattoo)

    outcome = memories_search(
        user=user, query="Why did Maya choose an otter for the tattoo?", mode="keyword", top_k=5
    )

    # No memory holds every word, yet the keyword leg answers, the rare words first.
    assert ids(outcome)[0] == tattoo.pk
    assert len(outcome.hits) == 5
    assert outcome.hits[0].keyword_score > 2 * outcome.hits[1].keyword_score


def test_hybrid_hits_carry_both_legs_scores_and_a_fused_score(user, notes, settings):
    outcome = memories_search(user=user, query="python queries", mode="hybrid", top_k=4)

    weight = settings.MEMORY_SEARCH_SEMANTIC_WEIGHT
    best = outcome.hits[0]
    assert best.keyword_score > 0 and 0 < best.semantic_score <= 1
    assert 0 < best.score <= 1
    # The fused score is the convex combination of cosine and the normalised BM25 (0..1).
    assert best.score >= weight * best.semantic_score
    assert best.score <= weight * best.semantic_score + (1 - weight) + 1e-6
    unmatched = [hit for hit in outcome.hits if hit.keyword_score is None]
    assert unmatched and all(hit.semantic_score is not None for hit in unmatched)


def test_hybrid_keeps_the_keyword_legs_best_memory_when_meaning_fills_every_place(
    user, embed_now, settings
):
    # The wrong-name question: it names Maya, who never said the answer, and one rare word
    # ("otter") that only Leo's memory holds. Meaning alone ranks Maya's chatter first.
    settings.MEMORY_SEARCH_SEMANTIC_WEIGHT = 1.0
    chatter = [
        MemoryFactory(user=user, content=f"Maya: {text}.")
        for text in (
            "I told you how my week went, it was a long one",
            "how have things been with you lately?",
            "my week was busy but good, thanks for asking",
        )
    ]
    otter = MemoryFactory(user=user, content="Leo: I finally got an otter tattoo on my arm.")
    embed_now(*chatter, otter)
    query = "How was Maya's week with the otter?"
    meaning = memories_search(user=user, query=query, mode="semantic", top_k=2)
    assert otter.pk not in ids(meaning)  # what makes this the wrong-name case

    outcome = memories_search(user=user, query=query, mode="hybrid", top_k=2)

    assert ids(outcome) == [ids(meaning)[0], otter.pk]
    # In the last place, with its own (lower) score.
    assert outcome.hits[1].score < outcome.hits[0].score and outcome.hits[1].keyword_score


def test_min_score_is_a_floor_on_the_score(user, notes):
    every = memories_search(user=user, query="python queries", mode="hybrid", top_k=4)
    floor = every.hits[1].score

    above = memories_search(
        user=user, query="python queries", mode="hybrid", top_k=4, min_score=floor
    )

    assert ids(above) == ids(every)[:2]
    assert memories_search(user=user, query="python", mode="semantic", min_score=1.0).hits == []


def test_the_search_endpoint_answers_each_score_and_checks_min_score(auth_client, notes):
    url = "/api/v1/memories/search"

    response = auth_client.post(url, {"query": "python queries", "min_score": 0.05}, format="json")

    assert response.status_code == 200, response.content
    first = response.json()["results"][0]
    assert {"score", "semantic_score", "keyword_score", "highlights"} <= set(first)
    assert first["score"] >= 0.05 and first["keyword_score"] > 0
    took = response.json()["took_ms"]
    assert response["Server-Timing"] == f'search;dur={took};desc="exact"'
    wrong = auth_client.post(url, {"query": "python", "min_score": 2}, format="json")
    assert wrong.status_code == 400
    assert "min_score" in wrong.json()["error"]["details"]


def test_a_deep_semantic_hit_with_a_strong_keyword_match_surfaces(settings):
    # The evidence is the 41st nearest memory but the only one holding the question's rare word.
    semantic = [(uuid.uuid4(), 0.9 - 0.005 * rank) for rank in range(settings.MEMORY_SEARCH_DEPTH)]
    evidence = semantic[40][0]
    keyword = [(evidence, 12.0, 0.9), (uuid.uuid4(), 2.0, 0.15)]

    fused = fuse(
        semantic,
        keyword,
        depth=settings.MEMORY_SEARCH_DEPTH,
        weight=settings.MEMORY_SEARCH_SEMANTIC_WEIGHT,
    )

    assert settings.MEMORY_SEARCH_DEPTH > 40  # hybrid fetches it at all
    assert evidence in [item.pk for item in fused[:10]]


def test_a_repeated_query_is_not_embedded_again(user, notes, monkeypatch):
    embedder = get_embedder()
    calls = []
    embed = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: calls.append(texts) or embed(texts))

    first = memories_search(user=user, query="a query asked twice", mode="hybrid")
    again = memories_search(user=user, query="a query asked twice", mode="hybrid")

    assert calls == [["a query asked twice"]]
    assert ids(first) == ids(again)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_query_embedded_ahead_is_embedded_once(user, notes, monkeypatch, mode):
    # Chat starts embedding the message before the rest of the turn; the search that follows,
    # arriving while the model still runs, waits for that embedding instead of starting another.
    query_vectors_forget()
    embedder = get_embedder()
    calls, release = [], threading.Event()
    embed = embedder.embed

    def slow(texts):
        calls.append(texts)
        release.wait(5)
        return embed(texts)

    monkeypatch.setattr(embedder, "embed", slow)
    memories_query_prefetch("python code review")
    threading.Timer(0.2, release.set).start()

    outcome = memories_search(user=user, query="python code review", mode=mode)

    assert calls == [["python code review"]]
    assert ids(outcome)[0] == notes[0].pk


def test_a_new_hybrid_query_ranks_as_the_same_query_repeated(user, notes):
    # A new query is embedded beside the keyword leg; a repeated one sends both legs at once.
    query_vectors_forget()

    new = memories_search(user=user, query="python code review", mode="hybrid")
    again = memories_search(user=user, query="python code review", mode="hybrid")

    assert ids(new) == ids(again) and ids(new)[0] == notes[0].pk
    scores = [(hit.score, hit.semantic_score, hit.keyword_score) for hit in new.hits]
    assert scores == [(hit.score, hit.semantic_score, hit.keyword_score) for hit in again.hits]
    assert None not in scores[0]


def test_a_hybrid_search_answers_from_keywords_when_the_embedder_is_down(user, notes, monkeypatch):
    query_vectors_forget()

    def refused(texts):
        raise EmbeddingUnavailable("connection refused")

    monkeypatch.setattr(get_embedder(), "embed", refused)

    outcome = memories_search(user=user, query="lasagna recipes", mode="hybrid")
    assert outcome.mode == "keyword" and ids(outcome) == [notes[1].pk]
    assert outcome.hits[0].semantic_score is None
    with pytest.raises(ServiceUnavailable):
        memories_search(user=user, query="lasagna recipes", mode="semantic")


def test_a_hit_is_the_memory_as_the_orm_reads_it(user, embed_now):
    # Hits are read by a written statement: every field as the ORM gives it, JSON and arrays
    # decoded (the search vector, never shown, left out).
    memory = MemoryFactory(
        user=user, content="Lasagna for the team", metadata={"app": "notes", "n": [1, 2]},
        tags=["food", "team"], title="Lasagna",
    )  # fmt: skip
    embed_now(memory)

    hit = memories_search(user=user, query="lasagna", mode="keyword").hits[0]

    stored = type(memory).objects.get(pk=memory.pk)
    fields = [f.attname for f in type(memory)._meta.concrete_fields if f.name != "search_vector"]
    assert [getattr(hit.memory, name) for name in fields] == [getattr(stored, n) for n in fields]
    assert hit.memory.metadata == {"app": "notes", "n": [1, 2]}


def memory_rows_read(sql: str) -> int:
    """The rows of ``memories_memory`` PostgreSQL reads running ``sql``, kept or filtered out."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
    nodes, read = [plan], 0
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "memories_memory":
            kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            read += round(kept * node["Actual Loops"])
    return read


@pytest.mark.parametrize("copy", [False, True], ids=["rows-from-sql", "rows-held"])
def test_the_hits_are_read_by_id_whatever_the_statistics_say_of_the_user(
    user, other_user, settings, request, copy
):
    # The table analysed before this user's bulk import: its statistics say they have no rows,
    # and the hits' statements must still read only the hits, not all the user's memories.
    settings.MEMORY_RESIDENT_MB = 256 if copy else 0
    settings.MEMORY_RESIDENT_MIN_MEMORIES = 10
    MemoryFactory.create_batch(30, user=other_user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memory")
    services.memories_bulk_create(
        user=user,
        drafts=[MemoryDraft(content=f"Lantern number {i} on the shelf") for i in range(400)],
    )
    if copy:
        request.addfinalizer(resident_indexes_forget)
        assert resident_index_load(user_id=user.pk, model=get_embedder().name)

    with CaptureQueriesContext(connection) as queries:
        outcome = memories_search(user=user, query="lantern", mode="keyword", top_k=5)

    assert len(outcome.hits) == 5
    headlines = [q["sql"] for q in queries if "ts_headline" in q["sql"]]
    assert headlines
    assert [memory_rows_read(sql) for sql in headlines] == [5] * len(headlines)


@pytest.mark.parametrize("copy", [False, True], ids=["sql", "copy"])
@pytest.mark.parametrize(
    ("query", "content"),
    [
        ("template", "In Vue I wrap markup in <template> tags"),
        ("Orion", "My wifi password hint is <Orion>"),
        ("ada", "Email me at <ada@example.com>"),
        ("ada@example.com", "Email me at <ada@example.com>"),
        ("engram-start", "The path is /usr/local/bin/engram-start"),
        ("setup", "The docs are at https://example.com/docs/setup"),
        ("3.5", "Upgraded the library to version 3.5 today"),
    ],
)
def test_words_inside_tags_addresses_paths_and_urls_are_found_by_keyword(
    user, settings, request, query, content, copy
):
    # PostgreSQL's parser keeps an email, a path or a URL as one token and drops a tag: none of
    # these was found by its words.
    settings.MEMORY_RESIDENT_MB = 64 if copy else 0
    settings.MEMORY_RESIDENT_MIN_MEMORIES = 1
    found = MemoryFactory(user=user, content=content)
    MemoryFactory(user=user, content="Something else entirely")
    if copy:
        request.addfinalizer(resident_indexes_forget)
        assert resident_index_load(user_id=user.pk, model=get_embedder().name)

    outcome = memories_search(user=user, query=query, mode="keyword")

    assert ids(outcome) == [found.pk]
