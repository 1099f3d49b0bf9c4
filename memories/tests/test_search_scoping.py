"""Every statement a search sends names its user: in a database distributed by user (Citus,
docs/scaling.md) each one then runs on one shard, and no statement can read another's rows."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from memories import services
from memories.models import IndexStatus, UserVectorIndex
from memories.search.query_vectors import query_vectors_forget
from memories.search.resident import resident_index_load, resident_indexes_forget
from memories.selectors import (
    MemoryFilters,
    memories_search,
    memories_similar,
    memory_near_duplicate,
)
from providers.embeddings import get_embedder

TOPICS = ["python", "garden", "travel", "recipe", "music", "finance", "health", "books"]
# What a transaction or a setting sends: no rows read.
NO_ROWS = re.compile(r"^\s*(SET|RESET|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.I)


def store(user, count: int) -> None:
    drafts = [
        services.MemoryDraft(
            content=f"{TOPICS[i % 8]} note {i} on {TOPICS[i * 3 % 8]} and {TOPICS[i * 5 % 8]}",
            provider="claude" if i % 4 == 0 else "chatgpt",
        )
        for i in range(count)
    ]
    services.memories_bulk_create(user=user, drafts=drafts)


def searches(user) -> None:
    """Every way a search reads: each mode, new and repeated queries, filters, boosts."""
    query_vectors_forget()
    since = timezone.now() - timedelta(days=1)
    for mode in ("hybrid", "semantic", "keyword"):
        for query in ("python garden", "python garden", "music or books finance"):
            memories_search(user=user, query=query, mode=mode, top_k=5)
        memories_search(
            user=user,
            query="travel recipe",
            mode=mode,
            top_k=5,
            filters=MemoryFilters(provider="claude", since=since),
            importance_boost=0.5,
            recency_boost=0.5,
        )
    memories_similar(user=user, texts=["python notes", "garden"], top_k=3, filters=MemoryFilters())
    memory = user.memories.first()
    vector = get_embedder().embed([memory.content])[0]
    memory_near_duplicate(memory=memory, vector=vector, model=get_embedder().name, threshold=0.5)


def statements_without_the_user(user, queries) -> list[str]:
    names = (str(user.pk), user.pk.hex)
    return [
        query["sql"]
        for query in queries
        if not NO_ROWS.match(query["sql"]) and not any(name in query["sql"] for name in names)
    ]


@pytest.mark.django_db(transaction=True)
def test_every_statement_of_every_search_path_filters_on_the_user(
    settings, django_capture_on_commit_callbacks
):
    settings.MEMORY_HNSW_USER_THRESHOLD = 30
    settings.MEMORY_RESIDENT_MIN_MEMORIES = 10
    settings.MEMORY_RESIDENT_MB = 0  # SQL first; the copy below
    light, heavy = UserFactory(), UserFactory()
    store(light, 20)
    store(heavy, 40)  # past the threshold: their own HNSW and GIN indexes, kept statistics
    services.term_statistics_refresh(user_id=heavy.pk)
    assert UserVectorIndex.objects.get(user=heavy).status == IndexStatus.READY
    paths = set()

    for user in (light, heavy):
        with CaptureQueriesContext(connection) as queries:
            searches(user)
        assert statements_without_the_user(user, queries.captured_queries) == []
        paths.add(memories_search(user=user, query="python garden", mode="hybrid").vector_path)

    # Both users again from their copies in the process.
    settings.MEMORY_RESIDENT_MB = 64
    for user in (light, heavy):
        resident_index_load(user_id=user.pk, model=get_embedder().name)
        with CaptureQueriesContext(connection) as queries:
            searches(user)
        assert statements_without_the_user(user, queries.captured_queries) == []
        paths.add(memories_search(user=user, query="python garden", mode="hybrid").vector_path)
    resident_indexes_forget()

    # The heavy user's index answered (then the exact guard: 40 memories, 50 candidates asked),
    # then their copy's graph.
    assert paths == {"exact", "hnsw+exact", "resident", "resident-ann"}
