"""The two legs of a search, ranked: one interface (``Ranker``), two implementations.

``SqlRanker``: PostgreSQL ranks, both legs in one statement (vectors.py: cosine similarity,
exact or through a heavy user's HNSW index; keyword.py: Okapi BM25 with the user's own term
statistics). ``ResidentRanker``: the user's copy in this process ranks the same way with numpy
(resident.py), for a user who searches often and has many memories; a heavy user's copy ranks by
meaning through an HNSW graph in the process (resident_ann.py), as their own index in PostgreSQL
would. All answer the same order (memories/tests/test_resident.py runs every ranker on the same
corpora). ``rankers_for`` chooses one per leg.
"""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from accounts.models import User
from memories.filters import MemoryFilters, memory_filter_q
from memories.search.fusion import KeywordRanked
from memories.search.hits import HeldRows
from memories.search.index_check import chunk_sample_wanted, index_stuck
from memories.search.keyword import KeywordStatement, bm25_statement
from memories.search.resident import ResidentSearch, resident_search
from memories.search.vectors import (
    NEAREST_CHUNKS_PER_MEMORY,
    Ranked,
    filter_subquery,
    hnsw_kept,
    hnsw_session,
    semantic_sql,
)


@dataclass(frozen=True)
class Legs:
    """Each leg's candidates, best first, and how the semantic leg ran: "exact", "hnsw",
    "hnsw+exact" (the index answered short or was found stuck, the exact search re-ran it),
    "resident" (the copy in this process, exact), "resident-ann" (a heavy user's copy, through
    its HNSW graph), "resident-ann+exact" (the graph answered short or was found stuck, the copy
    scanned every vector), or "" (no semantic leg)."""

    semantic: Ranked
    keyword: KeywordRanked
    path: str


class Ranker(Protocol):
    def rank(
        self,
        *,
        vector: Sequence[float] | None,
        threshold: float | None,
        keyword: bool,
        depth: int,
        exact_for: Collection[uuid.UUID] = (),
    ) -> Legs:
        """Up to ``depth`` memories from each leg asked for, best first (ties by id): the
        semantic leg when ``vector`` is given (cut at ``threshold``), the keyword leg when
        ``keyword``. ``exact_for``: memories an approximate semantic leg looks at whether or not
        it finds them (hybrid's keyword candidates: their fused scores need their own
        similarity, not the leg's lowest); with ``keyword``, that leg's own candidates."""
        ...


@dataclass(frozen=True)
class SqlRanker:
    user: User
    query: str
    model: str
    filters: MemoryFilters
    # A user with their own vector index: their HNSW and GIN indexes, their kept statistics.
    # Their index's answer is checked against a sample of their chunks (index_check.py). It leaves
    # ``exact_for`` aside: scoring the keyword leg's candidates exactly, as the copy's graph
    # does, cost a round trip and found nothing more at the heavy user (bench/HISTORY.md).
    heavy: bool

    def rank(
        self,
        *,
        vector: Sequence[float] | None,
        threshold: float | None,
        keyword: bool,
        depth: int,
        exact_for: Collection[uuid.UUID] = (),
    ) -> Legs:
        parts, params, ef_search = [], [], None
        if vector is not None:
            sql, leg_params, ef_search = semantic_sql(
                user=self.user,
                model=self.model,
                vector=vector,
                limit=depth,
                threshold=threshold,
                filters=self.filters,
                indexed=self.heavy,
            )
            parts.append(f"SELECT 's' AS leg, * FROM ({sql}) s")
            params += leg_params
        statement = None
        if keyword:
            statement = self._keyword_statement(depth)
            parts.append(f"SELECT 'k' AS leg, * FROM ({statement.sql}) k")
            params += statement.params
        semantic: Ranked = []
        keyword_ranked: KeywordRanked = []
        with hnsw_session(ef_search) as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            for leg, pk, raw, normalised in cursor.fetchall():
                if leg == "s":
                    semantic.append((pk, float(raw)))
                else:
                    keyword_ranked.append((pk, float(raw), float(normalised or 0.0)))
            # A heavy user's plan that found fewer than asked for widens: fewer common words.
            while (
                statement is not None
                and statement.plan is not None
                and not statement.plan.exact
                and len(keyword_ranked) < depth
            ):
                statement = self._keyword_statement(depth, statement.plan.at_least - 1)
                cursor.execute(statement.sql, statement.params)
                keyword_ranked = [
                    (pk, float(raw), float(normalised or 0.0))
                    for pk, raw, normalised in cursor.fetchall()
                ]
        semantic.sort(key=lambda row: (-row[1], row[0]))
        keyword_ranked.sort(key=lambda row: (-row[1], row[0]))
        path = "" if vector is None else ("hnsw" if self.heavy else "exact")
        if vector is not None and self.heavy:
            kept = hnsw_kept(semantic, limit=depth, threshold=threshold)
            # The index answered short (only an exact search can say more), or was found stuck.
            if kept is None or index_stuck(
                user=self.user,
                model=self.model,
                vector=vector,
                found=semantic,
                answered=depth * NEAREST_CHUNKS_PER_MEMORY,
                filters=self.filters,
            ):
                exact = replace(self, heavy=False)
                semantic = exact.rank(
                    vector=vector, threshold=threshold, keyword=False, depth=depth
                ).semantic
                path = "hnsw+exact"
            else:
                semantic = kept
        return Legs(semantic, keyword_ranked, path)

    def _keyword_statement(self, depth: int, max_at_least: int | None = None) -> KeywordStatement:
        subquery, sub_params = filter_subquery(self.user, self.filters)
        return bm25_statement(
            user=self.user,
            query=self.query,
            limit=depth,
            filter_sql=subquery,
            filter_params=sub_params,
            heavy=self.heavy,
            max_at_least=max_at_least,
        )


@dataclass(frozen=True)
class ResidentRanker:
    """A current copy of the user's search data and the query's lexemes."""

    search: ResidentSearch

    def rank(
        self,
        *,
        vector: Sequence[float] | None,
        threshold: float | None,
        keyword: bool,
        depth: int,
        exact_for: Collection[uuid.UUID] = (),
    ) -> Legs:
        index = self.search.index
        ranked = index.keyword_ranked(self.search.lexemes, limit=depth) if keyword else []
        semantic, path = [], ""
        if vector is not None:
            semantic, path = index.semantic_ranked(
                vector,
                limit=depth,
                threshold=threshold,
                exact_for=exact_for or [pk for pk, _, _ in ranked],
            )
        return Legs(semantic, ranked, path)


@dataclass(frozen=True)
class Rankers:
    """The ranker of each leg; a ranker of both asked for both ranks them at once."""

    semantic: Ranker
    keyword: Ranker
    # The user's rows, when their copy (current: its generation was checked) holds them.
    rows: HeldRows | None = None

    def rank(
        self,
        *,
        vector: Sequence[float] | None,
        threshold: float | None,
        keyword: bool,
        depth: int,
        exact_for: Collection[uuid.UUID] = (),
    ) -> Legs:
        if vector is None:
            return self.keyword.rank(vector=None, threshold=None, keyword=keyword, depth=depth)
        if not keyword or self.semantic is self.keyword:
            return self.semantic.rank(
                vector=vector,
                threshold=threshold,
                keyword=keyword,
                depth=depth,
                exact_for=exact_for,
            )
        words = self.keyword.rank(vector=None, threshold=None, keyword=True, depth=depth)
        semantic = self.semantic.rank(
            vector=vector,
            threshold=threshold,
            keyword=False,
            depth=depth,
            exact_for=[pk for pk, _, _ in words.keyword],
        )
        return Legs(semantic.semantic, words.keyword, semantic.path)


def rankers_for(
    *, user: User, query: str, model: str, filters: MemoryFilters, heavy: bool
) -> Rankers:
    """Who ranks each leg of ``user``'s search: their current copy in this process when there
    is one and nothing filters (its semantic leg when it holds a heavy user's graph, or a light
    user's vectors), else SQL. A heavy user's sample of chunks is read ahead, whoever ranks:
    their index answers as soon as they write (their copy is then out of date) or filter."""
    sql = SqlRanker(user=user, query=query, model=model, filters=filters, heavy=heavy)
    if heavy:
        chunk_sample_wanted(user_id=user.pk, model=model)
    if memory_filter_q(filters):
        return Rankers(sql, sql)
    resident = resident_search(user_id=user.pk, model=model, query=query)
    if resident is None:
        return Rankers(sql, sql)
    copy = ResidentRanker(resident)
    index = resident.index
    by_copy = index.graph is not None or (index.holds_vectors and not heavy)
    return Rankers(copy if by_copy else sql, copy, rows=index.rows)
