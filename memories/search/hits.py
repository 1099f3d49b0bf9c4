"""A search's hits: each ranked memory's row and, for those the keyword leg found, its words
highlighted by PostgreSQL (``ts_headline``).

The rows come from the user's copy in the process when it holds them (``HeldRows``: a light
user's copy, resident.py, as current as the generation the search checked), else from
PostgreSQL, with the highlights still missing, in one statement. A new query's highlights are
read while its embedding runs, for the keyword leg's first memories, where most hits it found
are: after the ranking, a search whose rows are held then often has nothing left to read
(bench/HISTORY.md, "The hits' read while the query embeds").
"""

import functools
import sys
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.db import connection

from accounts.models import User
from core.db import RowReader, row_reader
from memories.models import TEXT_SEARCH_CONFIG, Memory, SearchGeneration
from memories.search.fusion import Fused
from memories.search.keyword import or_query_text

HIGHLIGHT_DELIMITER = " … "
# ts_headline's options, as Django's SearchHeadline writes them.
_HEADLINE_OPTIONS = (
    "StartSel='<mark>', StopSel='</mark>', MaxWords=20, MinWords=5, MaxFragments=2, "
    f"FragmentDelimiter='{HIGHLIGHT_DELIMITER}'"
)
# A memory this short is its own highlight, whole: ts_headline's fragments would drop its first
# words, and anything that looks like markup (its parser's tags).
WHOLE_TEXT_CHARS = 300
_WHOLE_OPTIONS = "StartSel='<mark>', StopSel='</mark>', HighlightAll=true"
_HEADLINE = (
    "ts_headline(%s::regconfig, m.content, websearch_to_tsquery(%s::regconfig, %s), "
    f"CASE WHEN length(m.content) <= {WHOLE_TEXT_CHARS} THEN %s ELSE %s END)"
)
# ``FROM … m``: the memories of a list of ids (the first parameter) that are the user's (the
# second), each looked up by id. Asked as ``m.user_id = %s AND m.id = ANY(…)``, PostgreSQL plans
# from what its statistics say of the user, and for one grown since the table was last analysed
# (a bulk import: a few rows, they say) reads all their memories through the user's index to
# keep ten: 1.3 ms at 6,000 memories instead of 0.1 (bench/HISTORY.md). The subquery, fenced by
# OFFSET 0, can only be a lookup by id.
_BY_IDS = (
    "FROM unnest(%s::uuid[]) AS wanted(id) CROSS JOIN LATERAL "
    f"(SELECT * FROM {Memory._meta.db_table} m WHERE m.id = wanted.id OFFSET 0) m "
    "WHERE m.user_id = %s"
)
# A held row's bytes beyond its text: the tuple, its boxed values and the index's entry.
_ROW_OVERHEAD_BYTES = 1_200


@dataclass(frozen=True)
class SearchHit:
    memory: Memory
    # The ranking score: hybrid's fused score, else the leg's own normalised score (0..1).
    score: float
    highlights: list[str]
    # Cosine similarity of the query to the memory's closest chunk; None when not computed.
    semantic_score: float | None = None
    # Okapi BM25 over the user's memories (unbounded, ~0-30); None when the memory was not among
    # the keyword leg's candidates (for hybrid: it holds none of the query's words, or ranks
    # below the candidate depth).
    keyword_score: float | None = None


def _reader() -> RowReader:
    return row_reader(Memory, "m", without=("search_vector",))


@dataclass(frozen=True)
class HeldRows:
    """A user's memories' rows (every column but the tsvector, as PostgreSQL sent them), by id."""

    values: dict[uuid.UUID, tuple]
    nbytes: int

    def memories(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
        """New instances of those of ``ids`` held, sharing no list with the held rows (an array
        column, ``tags``, comes as one: a caller's change must not reach the copy)."""
        reader = _reader()
        return {
            pk: reader.read([list(v) if type(v) is list else v for v in self.values[pk]])
            for pk in ids
            if pk in self.values
        }


def held_rows_read(cursor, *, user_id: uuid.UUID, generation: int) -> HeldRows | None:
    """The rows of ``user_id``'s memories read with ``cursor``, if their generation is still
    ``generation`` (so they are the data of the snapshot that read it: every write moves it),
    else None."""
    cursor.execute(
        f"SELECT (SELECT generation FROM {SearchGeneration._meta.db_table} WHERE user_id = %s), "
        f"m.id, {_reader().columns} FROM {Memory._meta.db_table} m WHERE m.user_id = %s",
        [user_id, user_id],
    )
    rows = cursor.fetchall()
    if not rows or rows[0][0] != generation:
        return None
    values = {row[1]: row[2:] for row in rows}
    text = sum(
        sys.getsizeof(value) for row in rows for value in row if isinstance(value, str | bytes)
    )
    return HeldRows(values, text + _ROW_OVERHEAD_BYTES * len(rows))


class Highlights:
    """One search's highlighted fragments, each memory's read once."""

    def __init__(self, *, user: User, query: str) -> None:
        self.user = user
        self.query = or_query_text(query)
        self.fragments: dict[uuid.UUID, list[str]] = {}

    def missing(self, ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        return [pk for pk in ids if pk not in self.fragments]

    def read_now(self, ids: Collection[uuid.UUID]) -> None:
        """Read the highlights of those of ``ids`` not read yet."""
        if missing := self.missing(ids):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT m.id, {_HEADLINE} {_BY_IDS}", [*self.params(), missing, self.user.pk]
                )
                self.keep(cursor.fetchall(), missing)

    def params(self) -> list:
        return [
            TEXT_SEARCH_CONFIG, TEXT_SEARCH_CONFIG, self.query, _WHOLE_OPTIONS, _HEADLINE_OPTIONS
        ]  # fmt: skip

    def keep(self, rows: Sequence[tuple[uuid.UUID, str | None]], ids: Sequence[uuid.UUID]) -> None:
        for pk in ids:
            self.fragments[pk] = []  # deleted since: none
        for pk, headline in rows:
            self.fragments[pk] = headline.split(HIGHLIGHT_DELIMITER) if headline else []


@functools.cache
def _rows_sql() -> str:
    """The hits' rows, with the highlights not read yet, written once: the ORM spent 2-3 ms a
    search compiling the same query and building its rows."""
    return (
        f"SELECT {_reader().columns}, CASE WHEN m.id = ANY(%s::uuid[]) THEN {_HEADLINE} END "
        f"{_BY_IDS}"
    )


def hits_read(
    ranking: list[Fused],
    *,
    user: User,
    keyword_ids: Collection[uuid.UUID],
    highlights: Highlights,
    held: HeldRows | None,
) -> list[SearchHit]:
    """``ranking``'s hits, in its order; the memories the keyword leg found (``keyword_ids``)
    highlighted. A memory deleted since it was ranked is left out."""
    if not ranking:
        return []
    ids = [item.pk for item in ranking]
    highlighted = [pk for pk in ids if pk in keyword_ids]
    if held is not None:
        highlights.read_now(highlighted)
        memories = held.memories(ids)
    else:
        memories = _rows_read(user, ids, highlights, highlighted)
    hits = []
    for item in ranking:
        if item.pk not in memories:
            continue
        hits.append(
            SearchHit(
                memory=memories[item.pk],
                score=round(float(item.score), 6),
                highlights=highlights.fragments.get(item.pk, []),
                semantic_score=None if item.semantic is None else round(item.semantic, 6),
                keyword_score=None if item.keyword is None else round(item.keyword, 6),
            )
        )
    return hits


def _rows_read(
    user: User, ids: list[uuid.UUID], highlights: Highlights, highlighted: list[uuid.UUID]
) -> dict[uuid.UUID, Memory]:
    missing = highlights.missing(highlighted)
    with connection.cursor() as cursor:
        cursor.execute(_rows_sql(), [missing, *highlights.params(), ids, user.pk])
        rows = cursor.fetchall()
    reader = _reader()
    memories, headlines = {}, []
    for *values, headline in rows:
        memory = reader.read(values)
        memories[memory.pk] = memory
        if memory.pk in missing:
            headlines.append((memory.pk, headline))
    highlights.keep(headlines, missing)
    return memories
