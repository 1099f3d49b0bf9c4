"""The keyword leg of search: Okapi BM25 over one user's memories, computed in PostgreSQL.

PostgreSQL's own ranks (``ts_rank``, ``ts_rank_cd``) know nothing of how rare a word is, and
``websearch_to_tsquery`` ANDs every word, so a natural question matched almost nothing (issue
18: no keyword result for 83% of questions). Here the query's words are ORed, and each memory
that holds any of them scores

    sum over the query's terms t of  idf(t) · tf·(k1+1) / (tf + k1·(1 - b + b·dl/avgdl))

with idf(t) = ln(1 + (N - df + 0.5)/(df + 0.5)) over the user's own memories (N of them, df
holding t), tf the term's occurrences in the memory, dl its number of distinct lexemes.

Term statistics are computed from the user's rows at query time, not kept in a table: a table
of counts would have to follow every write, delete and content change, and at 6,000 memories the
leg costs about what the exact vector scan does (bench/README.md). A small user's rows are read
once (MATERIALIZED), counted, measured and matched in that one pass; a heavy user's matching
rows come from their own partial GIN index, and their N and average length from a per-process
cache (``_corpus_stats``), since counting 100k rows per query would cost more than the search.
"""

import re
import time
from typing import Any

from django.db import connection

from accounts.models import User
from memories.models import TEXT_SEARCH_CONFIG, Memory

# Okapi BM25's usual constants (Robertson & Zaragoza): term-frequency saturation and how much
# a memory's length discounts it.
BM25_K1 = 1.2
BM25_B = 0.75
# Words of a query that take part; past this the rest only cost time.
MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+")


def or_query_text(query: str) -> str:
    """``query``'s words joined by ``or`` in ``websearch_to_tsquery`` syntax: any of them
    matches. Quotes, ``-`` and the word "or" itself lose their operator meaning; the parser
    drops stop words."""
    words = [word for word in _WORD.findall(query) if word.lower() != "or"]
    return " or ".join(words[:MAX_QUERY_TERMS])


# Per process: user id -> (memories, average distinct lexemes, when read). A heavy user's counts
# move by a fraction of a percent in a few minutes; BM25 barely notices.
_CORPUS_CACHE: dict[Any, tuple[int, float, float]] = {}
CORPUS_CACHE_SECONDS = 300.0


def _corpus_stats(user: User) -> tuple[int, float]:
    now = time.monotonic()
    cached = _CORPUS_CACHE.get(user.pk)
    if cached is not None and now - cached[2] < CORPUS_CACHE_SECONDS:
        return cached[0], cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(avg(length(search_vector)), 1) "
            f"FROM {Memory._meta.db_table} WHERE user_id = %s",
            [user.pk],
        )
        count, average = cursor.fetchone()
    if len(_CORPUS_CACHE) > 100_000:
        _CORPUS_CACHE.clear()
    _CORPUS_CACHE[user.pk] = (int(count), float(average), now)
    return int(count), float(average)


def bm25_sql(
    *, user: User, query: str, limit: int, filter_sql: str, filter_params: list[Any], heavy: bool
) -> tuple[str, list[Any]]:
    """SQL and parameters answering ``(memory id, BM25 score, normalised score)``, best first,
    at most ``limit`` rows. The normalised score is the BM25 score over the score of a memory of
    average length holding every query term once (``1`` = every word of the question matched;
    words the user never wrote count against it), capped at 1: comparable across queries, so a
    fusion weight and a relevance floor mean the same for every question.

    ``filter_sql``: a subquery of the memory ids allowed (or ""), with its parameters.
    """
    words = or_query_text(query)
    restrict = f"AND m.id IN ({filter_sql})" if filter_sql else ""
    table = Memory._meta.db_table
    match = [TEXT_SEARCH_CONFIG, words]
    if heavy:
        count, average = _corpus_stats(user)
        # A constant tsquery, so the user's partial GIN index can answer it.
        owned = f"""owned AS NOT MATERIALIZED (
            SELECT m.id, m.search_vector, length(m.search_vector) AS dl FROM {table} m
            WHERE m.user_id = %s {restrict}
              AND m.search_vector @@ websearch_to_tsquery(%s::regconfig, %s)
        )"""
        owned_params = [user.pk, *filter_params, *match]
        corpus = "SELECT %s::float8 AS n, %s::float8 AS avgdl"
        corpus_params: list[Any] = [count, average]
    else:
        # One pass over the user's rows: their count and lengths, and which of them match.
        owned = f"""every AS MATERIALIZED (
            SELECT m.id, m.search_vector, length(m.search_vector) AS dl,
                   m.search_vector @@ websearch_to_tsquery(%s::regconfig, %s) AS hit
            FROM {table} m WHERE m.user_id = %s {restrict}
        ),
        owned AS (SELECT id, search_vector, dl FROM every WHERE hit)"""
        owned_params = [*match, user.pk, *filter_params]
        corpus = "SELECT count(*)::float8 AS n, coalesce(avg(dl), 1) AS avgdl FROM every"
        corpus_params = []
    sql = f"""
        WITH {owned},
        q AS MATERIALIZED (
            SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s)) AS terms
        ),
        corpus AS MATERIALIZED ({corpus}),
        postings AS MATERIALIZED (
            SELECT o.id, p.lexeme, coalesce(cardinality(p.positions), 1) AS tf, o.dl
            FROM owned o, q,
                 -- Only the query's lexemes of the memory: two C calls instead of a row per
                 -- lexeme through unnest's filter.
                 unnest(ts_delete(o.search_vector,
                                  tsvector_to_array(ts_delete(o.search_vector, q.terms)))) p
        ),
        idf AS (
            SELECT t.lexeme, ln(1 + (c.n - coalesce(d.df, 0) + 0.5) / (coalesce(d.df, 0) + 0.5))
                   AS weight
            FROM q, corpus c, unnest(q.terms) t(lexeme)
            LEFT JOIN (SELECT lexeme, count(*) AS df FROM postings GROUP BY lexeme) d
                   USING (lexeme)
        ),
        scored AS (
            SELECT p.id, sum(w.weight * p.tf * {BM25_K1 + 1}
                   / (p.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * p.dl / c.avgdl))) AS bm25
            FROM postings p JOIN idf w USING (lexeme), corpus c
            GROUP BY p.id
        )
        SELECT s.id, s.bm25, least(s.bm25 / nullif((SELECT sum(weight) FROM idf), 0), 1.0)
        FROM scored s ORDER BY s.bm25 DESC, s.id LIMIT %s
    """
    return sql, [*owned_params, *match, *corpus_params, limit]
