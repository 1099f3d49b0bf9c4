"""A heavy user's word statistics, refreshed in the background (read by search/keyword.py).

The statistics need not follow every write: BM25 barely moves when a word's count is a few
percent off, and words the query's plan reads in full are counted at query time anyway. So they
are recomputed whole (``ts_stat`` over the user's memories, a second or two at 100k memories)
when the user's HNSW index is built and then by the periodic sweep, once the user has added a
tenth more memories or a day has passed.
"""

from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from memories.models import (
    IndexStatus,
    KeywordStatistics,
    Memory,
    TermStatistic,
    UserVectorIndex,
)
from memories.search.keyword_plan import TERM_STATISTICS_MIN_DOCUMENTS

# The sweep refreshes a user's statistics past this share of new memories, or this age.
REFRESH_AFTER_GROWTH = 0.1
REFRESH_AFTER = timedelta(days=1)


def term_statistics_refresh(*, user_id: Any) -> KeywordStatistics:
    """Recompute ``user_id``'s statistics from their memories, replacing the old ones in one
    transaction (searches meanwhile read the old ones). Concurrent refreshes of one user wait
    for each other."""
    memories, terms = Memory._meta.db_table, TermStatistic._meta.db_table
    with transaction.atomic():
        now = timezone.now()
        statistics, _ = KeywordStatistics.objects.select_for_update().get_or_create(
            user_id=user_id, defaults={"memories": 0, "average_length": 1.0, "refreshed_at": now}
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {terms} WHERE user_id = %s", [user_id])
            # ts_stat takes the text of a query; the id is quoted by format's %L.
            cursor.execute(
                f"""
                INSERT INTO {terms} (user_id, lexeme, documents)
                SELECT %s, word, ndoc FROM ts_stat(
                    format('SELECT search_vector FROM {memories} WHERE user_id = %%L', %s::text)
                ) WHERE ndoc >= %s
                """,
                [user_id, str(user_id), TERM_STATISTICS_MIN_DOCUMENTS],
            )
            cursor.execute(
                f"SELECT count(*), coalesce(avg(length(search_vector)), 1) "
                f"FROM {memories} WHERE user_id = %s",
                [user_id],
            )
            count, average = cursor.fetchone()
        statistics.memories, statistics.average_length = count, float(average)
        statistics.refreshed_at = now
        statistics.save()
    return statistics


def term_statistics_sweep() -> int:
    """Refresh the statistics of heavy users that have none, grew by REFRESH_AFTER_GROWTH or
    are older than REFRESH_AFTER. Returns the number refreshed."""
    heavy = set(
        UserVectorIndex.objects.filter(status=IndexStatus.READY).values_list("user_id", flat=True)
    )
    current = {
        statistics.user_id: statistics
        for statistics in KeywordStatistics.objects.filter(user_id__in=heavy)
    }
    refreshed = 0
    for user_id in heavy:
        statistics = current.get(user_id)
        if statistics is not None and not _stale(statistics):
            continue
        term_statistics_refresh(user_id=user_id)
        refreshed += 1
    return refreshed


def _stale(statistics: KeywordStatistics) -> bool:
    if timezone.now() - statistics.refreshed_at > REFRESH_AFTER:
        return True
    added = Memory.objects.filter(
        user_id=statistics.user_id, created_at__gt=statistics.refreshed_at
    ).count()
    return added > REFRESH_AFTER_GROWTH * max(statistics.memories, 1)
