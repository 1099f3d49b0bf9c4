"""The keyword leg of search: Okapi BM25 over one user's memories, computed in PostgreSQL.

PostgreSQL's own ranks (``ts_rank``, ``ts_rank_cd``) know nothing of how rare a word is, and
``websearch_to_tsquery`` ANDs every word, so a natural question matched almost nothing (issue
18: no keyword result for 83% of questions). Here the query's words are ORed, and each memory
that holds any of them scores

    sum over the query's terms t of  idf(t) · tf·(k1+1) / (tf + k1·(1 - b + b·dl/avgdl))

with idf(t) = ln(1 + (N - df + 0.5)/(df + 0.5)) over the user's own memories (N of them, df
holding t), tf the term's occurrences in the memory, dl its number of distinct lexemes.

A small user's term statistics are computed from their rows at query time: their rows are read
once (MATERIALIZED), counted, measured and matched in that one pass, which at 6,000 memories
costs about what the exact vector scan does (bench/README.md). A heavy user (one with their own
HNSW and GIN indexes) has statistics kept in tables (``KeywordStatistics``, ``TermStatistic``,
refreshed in the background by ``services/term_statistics.py``), read first, so that their
matching rows come from their own partial GIN index and only the memories the plan chooses
(``keyword_plan.py``: all those of the query's rarer words, and those holding several of its
common ones) are read.
"""

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.models import User
from memories.models import (
    SEARCH_TEXT_SEPARATORS,
    TEXT_SEARCH_CONFIG,
    KeywordStatistics,
    Memory,
    TermStatistic,
)
from memories.search.keyword_plan import KeywordPlan, keyword_plan

# Okapi BM25's usual constants (Robertson & Zaragoza): term-frequency saturation and how much
# a memory's length discounts it.
BM25_K1 = 1.2
BM25_B = 0.75
# Words of a query that take part; past this the rest only cost time.
MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+")
# The query's distinct lexemes, its text read as the search column reads a memory's (its
# separators spaces: models.SEARCH_TEXT_SEPARATORS). Parameters: query_lexemes_params(query).
QUERY_LEXEMES_SQL = (
    "tsvector_to_array(to_tsvector(%s::regconfig, regexp_replace(%s, %s, ' ', 'g')))"
)


def query_lexemes_params(query: str) -> list[str]:
    return [TEXT_SEARCH_CONFIG, query, SEARCH_TEXT_SEPARATORS]


def or_query_text(query: str) -> str:
    """``query``'s words joined by ``or`` in ``websearch_to_tsquery`` syntax: any of them
    matches. Quotes, ``-`` and the word "or" itself lose their operator meaning; the parser
    drops stop words."""
    words = [word for word in _WORD.findall(query) if word.lower() != "or"]
    return " or ".join(words[:MAX_QUERY_TERMS])


@dataclass(frozen=True)
class KeywordStatement:
    """The keyword leg as SQL answering ``(memory id, BM25 score, normalised score)``, best
    first, and, for a heavy user, the plan that chose its candidates."""

    sql: str
    params: list[Any]
    plan: KeywordPlan | None = None


def bm25_statement(
    *,
    user: User,
    query: str,
    limit: int,
    filter_sql: str,
    filter_params: list[Any],
    heavy: bool,
    max_at_least: int | None = None,
) -> KeywordStatement:
    """At most ``limit`` of ``user``'s memories by Okapi BM25 over ``query``'s words. The
    normalised score is the BM25 score over the score of a memory of average length holding
    every query term once (``1`` = every word of the question matched; words the user never
    wrote count against it), capped at 1: comparable across queries, so a fusion weight and a
    relevance floor mean the same for every question.

    ``filter_sql``: a subquery of the memory ids allowed (or ""), with its parameters. A heavy
    user's statistics are read here (one query); ``max_at_least`` caps their plan's ``m``.
    """
    restrict = f"AND m.id IN ({filter_sql})" if filter_sql else ""
    table = Memory._meta.db_table
    if heavy:
        return _heavy_statement(
            user=user,
            query=query,
            limit=limit,
            restrict=restrict,
            filter_params=filter_params,
            max_at_least=max_at_least,
        )
    # One pass over the user's rows: their count and lengths, and which of them match (only
    # those keep their text vector: copying every row's cost more than the match).
    owned = f"""every AS MATERIALIZED (
        SELECT m.id, length(m.search_vector) AS dl,
               CASE WHEN m.search_vector @@ websearch_to_tsquery(%s::regconfig, %s)
                    THEN m.search_vector END AS matched
        FROM {table} m WHERE m.user_id = %s {restrict}
    ),
    owned AS (SELECT id, matched AS search_vector, dl FROM every WHERE matched IS NOT NULL)"""
    sql, params = _scored_sql(
        owned=owned,
        owned_params=[TEXT_SEARCH_CONFIG, or_query_text(query), user.pk, *filter_params],
        terms=QUERY_LEXEMES_SQL,
        terms_params=query_lexemes_params(query),
        corpus="SELECT count(*)::float8 AS n, coalesce(avg(dl), 1) AS avgdl FROM every",
        corpus_params=[],
        known={},
        limit=limit,
    )
    return KeywordStatement(sql, params)


def _heavy_statement(
    *,
    user: User,
    query: str,
    limit: int,
    restrict: str,
    filter_params: list[Any],
    max_at_least: int | None,
) -> KeywordStatement:
    documents, corpus = _term_statistics(user, query)
    if not documents:  # only stop words: nothing can match
        return KeywordStatement("SELECT NULL::uuid, 0::float8, 0::float8 WHERE false", [])
    plan = keyword_plan(
        documents,
        memories=corpus[0] if corpus else 0,
        budget=settings.MEMORY_KEYWORD_CANDIDATE_BUDGET,
        max_at_least=max_at_least,
    )
    # Constant tsqueries, so the user's partial GIN index can answer each.
    matches = " OR ".join(["m.search_vector @@ %s::tsquery"] * len(plan.clauses))
    owned = f"""owned AS NOT MATERIALIZED (
        SELECT m.id, m.search_vector, length(m.search_vector) AS dl FROM {Memory._meta.db_table} m
        WHERE m.user_id = %s {restrict} AND ({matches})
    )"""
    if corpus:
        corpus_sql, corpus_params = "SELECT %s::float8 AS n, %s::float8 AS avgdl", list(corpus)
    else:  # no statistics yet (the refresh has not run): counted, slow but correct
        corpus_sql = (
            f"SELECT count(*)::float8 AS n, coalesce(avg(length(search_vector)), 1) AS avgdl "
            f"FROM {Memory._meta.db_table} WHERE user_id = %s"
        )
        corpus_params = [user.pk]
    sql, params = _scored_sql(
        owned=owned,
        owned_params=[user.pk, *filter_params, *plan.clauses],
        terms="%s::text[]",
        terms_params=[list(documents)],
        corpus=corpus_sql,
        corpus_params=corpus_params,
        # Words whose every memory is a candidate are counted there, as of now; the others'
        # counts come from the statistics.
        known={
            lexeme: count
            for lexeme, count in documents.items()
            if lexeme not in plan.searched and count is not None
        },
        limit=limit,
    )
    return KeywordStatement(sql, params, plan)


def _term_statistics(user: User, query: str) -> tuple[dict[str, int | None], tuple | None]:
    """The query's lexemes with the memories of ``user`` holding each (None: not kept, so
    rare), and the user's (memories, average length), None without statistics."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.lexeme, s.documents, k.memories, k.average_length
            FROM unnest({QUERY_LEXEMES_SQL}) t(lexeme)
            LEFT JOIN {TermStatistic._meta.db_table} s
                   ON s.user_id = %s AND s.lexeme = t.lexeme
            LEFT JOIN {KeywordStatistics._meta.db_table} k ON k.user_id = %s
            """,
            [*query_lexemes_params(query), user.pk, user.pk],
        )
        rows = cursor.fetchall()
    documents = {lexeme: count for lexeme, count, _, _ in rows}
    corpus = (rows[0][2], rows[0][3]) if rows and rows[0][2] is not None else None
    return documents, corpus


def _scored_sql(
    *,
    owned: str,
    owned_params: list[Any],
    terms: str,
    terms_params: list[Any],
    corpus: str,
    corpus_params: list[Any],
    known: dict[str, int],
    limit: int,
) -> tuple[str, list[Any]]:
    """BM25 over the candidates ``owned`` (id, search_vector, dl), for the query lexemes
    ``terms`` (an array expression), with N and avgdl from ``corpus`` and the document counts in
    ``known`` (the others counted among the candidates)."""
    sql = f"""
        WITH {owned},
        q AS MATERIALIZED (SELECT {terms} AS terms),
        corpus AS MATERIALIZED ({corpus}),
        known AS (SELECT * FROM unnest(%s::text[], %s::float8[]) k(lexeme, df)),
        postings AS MATERIALIZED (
            SELECT o.id, p.lexeme, coalesce(cardinality(p.positions), 1) AS tf, o.dl
            FROM owned o, q,
                 -- Only the query's lexemes of the memory: two C calls instead of a row per
                 -- lexeme through unnest's filter.
                 unnest(ts_delete(o.search_vector,
                                  tsvector_to_array(ts_delete(o.search_vector, q.terms)))) p
        ),
        df AS (
            SELECT t.lexeme, least(coalesce(k.df, d.df, 0), c.n) AS df
            FROM q, corpus c, unnest(q.terms) t(lexeme)
            LEFT JOIN known k USING (lexeme)
            LEFT JOIN (SELECT lexeme, count(*) AS df FROM postings GROUP BY lexeme) d
                   USING (lexeme)
        ),
        idf AS (
            SELECT f.lexeme, ln(1 + (c.n - f.df + 0.5) / (f.df + 0.5)) AS weight
            FROM df f, corpus c
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
    params = [
        *owned_params,
        *terms_params,
        *corpus_params,
        list(known),
        [float(count) for count in known.values()],
        limit,
    ]
    return sql, params
