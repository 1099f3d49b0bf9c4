"""Migrations that rebuild what search reads, run from the state before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.tests.factories import UserFactory
from memories.models import IndexStatus, KeywordStatistics, UserVectorIndex
from memories.services.indexes import text_index_name
from memories.tests.factories import MemoryFactory

BEFORE = [("memories", "0013_capture_awaiting_response_not_folded")]
AFTER = [("memories", "0014_search_text_words")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def text_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'memories_memory'")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_search_column_is_rebuilt_with_heavy_users_text_indexes():
    heavy = UserFactory()
    UserVectorIndex.objects.create(
        user=heavy, model="m", dimensions=3, name="memories_hnsw_test", status=IndexStatus.READY
    )
    KeywordStatistics.objects.create(
        user=heavy, memories=1, average_length=1.0, refreshed_at=timezone.now()
    )
    MemoryFactory(user=heavy, content="Mail <ada@example.com>")
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f'CREATE INDEX "{text_index_name(heavy.pk)}" ON memories_memory '
                "USING gin (search_vector) WHERE user_id = %s",
                [str(heavy.pk)],
            )
    finally:
        migrate(AFTER)

    assert {"memories_search_vector", text_index_name(heavy.pk)} <= text_indexes()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(search_vector) FROM memories_memory")
        assert {"ada", "exampl", "com"} <= set(cursor.fetchone()[0])
    assert KeywordStatistics.objects.get(user=heavy).refreshed_at.year == 2000
