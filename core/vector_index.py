"""Per-user vector search on pgvector: exact for small users, a partial HNSW index of their own
for users past a threshold. The generic half of the strategy memories measured
(docs/memories-and-search.md, "Multi-tenant vector search"); memories (chunks per model) and
backups (client vectors per user) say which rows, when an index is due and how a search ranks,
and call these.

Why per user: a global HNSW index filters by user as it walks the graph, so one tenant among
many has most of the graph to walk past (pgvector 0.8's iterative scans make the list complete,
not cheap: up to ``hnsw.max_scan_tuples`` visited per search). A user below the threshold is
searched exactly (a btree on the owner picks the rows; the caller's MATERIALIZED CTE keeps any
plan from doing otherwise). Past it the user gets a partial index ``WHERE user_id = X ...``
holding only their rows, over the expression ``column::vector(dims)`` (the column itself may
hold any dimension), built CONCURRENTLY outside the request. The planner uses it only when a
query orders by that same expression (``cosine_distance``) under a predicate implying the
index's; the scan's breadth is ``hnsw.ef_search``, set for one transaction (``hnsw_session``),
and the scan goes on past it while the query's other filters leave fewer rows than its LIMIT
(``hnsw.iterative_scan``, pgvector 0.8), so filters go in the scanned query's WHERE. An index
that still answers fewer rows than asked (fewer matching rows than that, or the scan's cap
reached) is not trusted: the exact search runs instead (``ranked``).
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import sql

logger = logging.getLogger(__name__)

# pgvector's HNSW graph degree; ef_construction is the caller's setting.
HNSW_M = 16
Row = tuple[Any, ...]


def index_name(prefix: str, user_id: Any, qualifier: str) -> str:
    """A per-user index's name: ``{prefix}_{user hex}_{8 hex of qualifier}``, within
    PostgreSQL's 63 characters (``qualifier`` tells one user's indexes apart: a model, a
    dimension)."""
    digest = hashlib.sha256(qualifier.encode()).hexdigest()[:8]
    return f"{prefix}_{uuid.UUID(str(user_id)).hex}_{digest}"[:63]


def vector_literal(vector: Sequence[float], *, digits: int = 7) -> str:
    return "[" + ",".join(f"{float(x):.{digits}g}" for x in vector) + "]"


def cosine_distance(column: str, dimensions: int) -> str:
    """SQL of the cosine distance from ``column`` to a ``%s`` parameter, written as a partial
    HNSW index over ``column`` is: ordering by it is what lets the planner use the index."""
    dims = int(dimensions)
    return f"{column}::vector({dims}) <=> %s::vector({dims})"


def ef_search_for(fetch: int, *, floor: int) -> int:
    """``hnsw.ef_search`` for a scan returning ``fetch`` rows: HNSW never returns more than it."""
    return max(int(floor), int(fetch))


@dataclass(frozen=True)
class PartialIndex:
    """A per-user index: ``USING method (expression) WITH (options) WHERE column = value ...``."""

    name: str
    table: str
    method: str
    expression: sql.Composable
    where: Mapping[str, Any]
    options: Mapping[str, int] = field(default_factory=dict)

    def ddl(self, *, concurrently: bool) -> sql.Composed:
        with_options = (
            sql.SQL(" WITH ({})").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = {}").format(sql.SQL(key), sql.Literal(value))
                    for key, value in self.options.items()
                )
            )
            if self.options
            else sql.SQL("")
        )
        predicate = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(value))
            for column, value in self.where.items()
        )
        return sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON {table} USING {method} "
            "({expression}){with_options} WHERE {predicate}"
        ).format(
            concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
            name=sql.Identifier(self.name),
            table=sql.Identifier(self.table),
            method=sql.SQL(self.method),
            expression=self.expression,
            with_options=with_options,
            predicate=predicate,
        )


def hnsw_cosine_index(
    *,
    name: str,
    table: str,
    column: str,
    dimensions: int,
    where: Mapping[str, Any],
    ef_construction: int,
) -> PartialIndex:
    """A partial HNSW index for cosine distance over ``column::vector(dimensions)``."""
    return PartialIndex(
        name=name,
        table=table,
        method="hnsw",
        expression=sql.SQL("({}::vector({})) vector_cosine_ops").format(
            sql.Identifier(column), sql.Literal(int(dimensions))
        ),
        where=where,
        options={"m": HNSW_M, "ef_construction": int(ef_construction)},
    )


def indexes_build(indexes: Sequence[PartialIndex]) -> str | None:
    """Create ``indexes`` (those already there are kept); None once all exist, else why not.

    Built CONCURRENTLY (writes go on) unless the caller holds a transaction, where PostgreSQL
    forbids it; call it from a task, outside the request. A failure leaves no invalid index
    behind (CONCURRENTLY would) and the caller's transaction usable.
    """
    concurrently = not connection.in_atomic_block
    try:
        savepoint = nullcontext() if concurrently else transaction.atomic()
        with savepoint, connection.cursor() as cursor:
            if not concurrently:
                # Deferred foreign-key checks of the same transaction would block the DDL.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET maintenance_work_mem = '256MB'")
            try:
                for index in indexes:
                    cursor.execute(index.ddl(concurrently=concurrently).as_string(cursor.cursor))
            finally:
                cursor.execute("RESET maintenance_work_mem")
    except DatabaseError as exc:
        logger.exception("Building index %s failed", ", ".join(i.name for i in indexes))
        if concurrently:
            for index in indexes:
                index_drop(index.name)
        return str(exc)
    return None


def index_drop(name: str) -> None:
    """Drop the index ``name``; none there is fine."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)).as_string(cursor.cursor)
        )


def index_valid(name: str) -> bool:
    """Whether the index ``name`` exists and is complete (a CONCURRENTLY build in progress, or
    one that failed, is not)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid AND i.indisready FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
            [name],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def index_exists(name: str) -> bool:
    """Whether the index ``name`` exists at all (being built counts)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", [name])
        return bool(cursor.fetchone()[0])


# What ``index_name`` makes, the prefix captured: every per-user index, whichever app's.
PER_USER_INDEX_PATTERN = r"^(.+)_[0-9a-f]{32}_[0-9a-f]{8}$"


def per_user_index_counts() -> dict[str, dict[str, int]]:
    """How many per-user indexes of each prefix (``memories_hnsw``, ``backups_hnsw``) are
    ``valid`` (searches may use them) and ``not_valid`` (being built CONCURRENTLY, or a failed
    build that the next one replaces). Counts only: the names hold user ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substring(c.relname FROM %s) AS prefix,"
            " count(*) FILTER (WHERE i.indisvalid AND i.indisready),"
            " count(*) FILTER (WHERE NOT (i.indisvalid AND i.indisready))"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relname ~ %s"
            " GROUP BY prefix ORDER BY prefix",
            [PER_USER_INDEX_PATTERN, PER_USER_INDEX_PATTERN],
        )
        return {
            prefix: {"valid": valid, "not_valid": not_valid}
            for prefix, valid, not_valid in cursor.fetchall()
        }


def indexes_named(prefix: str) -> list[str]:
    """Names of the indexes starting with ``prefix`` (a user's, by ``index_name``'s layout)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND starts_with(indexname, %s)",
            [prefix],
        )
        return [row[0] for row in cursor.fetchall()]


class ReadinessCache:
    """Per process: whether a user's index is ready, read at most once a minute per key. An
    index appears within a minute of being built; a stale "yes" after a drop is harmless (the
    planner finds no index and scans exactly)."""

    seconds = 60.0
    max_entries = 100_000

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[bool, float]] = {}

    def ready(self, key: Hashable, probe: Callable[[], bool]) -> bool:
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and now - cached[1] < self.seconds:
            return cached[0]
        ready = probe()
        if len(self._entries) > self.max_entries:
            self._entries.clear()
        self._entries[key] = (ready, now)
        return ready

    def forget(self, key: Hashable) -> None:
        """This process built or dropped the index: the next search looks again."""
        self._entries.pop(key, None)


@contextmanager
def hnsw_session(ef_search: int | None) -> Iterator[CursorWrapper]:
    """A cursor whose statements may scan an HNSW index with ``ef_search`` (a transaction of
    its own for the SET LOCALs), or a plain cursor when ``ef_search`` is None.

    The scan is iterative (pgvector 0.8): while the query's filters leave fewer rows than its
    LIMIT it goes on through the graph instead of answering short. ``relaxed_order``: the rows
    may come slightly out of distance order, which every caller re-sorts (it groups or orders
    the scan's rows in an outer query)."""
    if ef_search is None:
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SET LOCAL hnsw.ef_search = {int(ef_search)}; "
            "SET LOCAL hnsw.iterative_scan = relaxed_order"
        )
        yield cursor


def hnsw_kept(rows: list[Row], *, limit: int, threshold: float | None) -> list[Row] | None:
    """The index's answer (rows whose second field is a similarity) cut to ``limit`` and
    ``threshold``, or None when it answered short: only an exact search can then say how many
    there are."""
    if len(rows) < limit:
        return None
    if threshold is not None:
        rows = [row for row in rows if row[1] >= threshold]
    return rows[:limit]


# The SQL of one search, its parameters and the hnsw.ef_search it needs (None: exact).
Query = tuple[str, list[Any], int | None]


def ranked(
    *,
    indexed: bool,
    query: Callable[[bool], Query],
    limit: int,
    threshold: float | None = None,
) -> tuple[list[Row], str]:
    """Run a nearest-neighbour search the per-user way: ``query(False)`` (exact) when the user
    has no ready index, else ``query(True)`` (through it), re-run exactly when the index answered
    short. Returns the rows and the path taken: "exact", "hnsw" or "hnsw+exact"."""

    def rows(through_index: bool) -> list[Row]:
        statement, params, ef_search = query(through_index)
        with hnsw_session(ef_search) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    if not indexed:
        return rows(False), "exact"
    kept = hnsw_kept(rows(True), limit=limit, threshold=threshold)
    if kept is not None:
        return kept, "hnsw"
    return rows(False), "hnsw+exact"
