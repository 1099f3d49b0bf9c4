"""Database connections of long-lived work (streams, sockets), inserting many rows, reading
models on hot paths, and locks that serialise a check and the write it allows."""

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import DEFERRED


def release_connections() -> None:
    """Give this thread's database connections back (to the pool) before a long wait.

    A stream lasts seconds or minutes; holding an idle connection through it means one per open
    stream, and the pool (or PostgreSQL's ``max_connections``) runs out long before the streams
    do. What runs in the database later takes a connection for as long as it needs one. A
    connection inside a transaction (a test wrapped in one) is left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def transaction_lock(namespace: str, key: str) -> None:
    """Hold the lock named ``namespace`` and ``key`` until the current transaction ends; a
    concurrent transaction asking for the same one waits here. For a check that a write must
    not outdate before it commits (a quota counted, then rows added): lock, count, write."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", [namespace, key])


def copy_insert(model: type[models.Model], objects: Sequence[models.Model]) -> None:
    """Insert ``objects`` (unsaved, primary keys set or left to the database) with one COPY.

    What ``bulk_create`` does without returning anything, at a fraction of its cost for
    hundreds of rows: no statement with thousands of placeholders for the driver to split and
    the server to parse. Values go through each field's ``pre_save`` and ``get_db_prep_save``
    as with ``save()``; database errors are Django's (an ``IntegrityError`` for a constraint).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.generated and not (field.primary_key and field.db_returning)
    ]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    rows: Iterable[list] = (
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        for obj in objects
    )
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


@dataclass(frozen=True)
class RowReader:
    """How a written statement reads a model's rows: ``columns`` for its select list, and
    ``read`` to make an instance of the values of those columns as the ORM would (each value
    converted as the ORM converts it, the fields left out deferred)."""

    model: type[models.Model]
    columns: str
    converters: tuple[tuple[int, list[Callable], Any], ...]  # (position, converters, column)
    deferred: tuple[int, ...]  # where the fields left out go among the model's concrete fields

    def read(self, values: Sequence) -> models.Model:
        values = list(values)
        if self.converters:
            connection = connections[DEFAULT_DB_ALIAS]
            for i, converters, column in self.converters:
                for convert in converters:
                    values[i] = convert(values[i], column, connection)
        for i in self.deferred:
            values.insert(i, DEFERRED)
        # A value for every concrete field: from_db takes its fast path (a fifth of the time
        # of matching names to fields, profiled on a search's hits).
        return self.model.from_db(DEFAULT_DB_ALIAS, None, values)


@functools.cache
def row_reader(
    model: type[models.Model], alias: str, *, without: tuple[str, ...] = ()
) -> RowReader:
    """A RowReader of ``model``'s concrete fields but those named in ``without``, its table
    aliased ``alias`` in the statement. For reads made on every request, where the ORM spent a
    millisecond or more compiling the same statement again and building its instances."""
    connection = connections[DEFAULT_DB_ALIAS]
    concrete = model._meta.concrete_fields
    fields = [field for field in concrete if field.name not in without]
    converters = []
    for i, field in enumerate(fields):
        column = field.get_col(alias)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((i, found, column))
    columns = ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in fields)
    deferred = tuple(i for i, field in enumerate(concrete) if field.name in without)
    return RowReader(model, columns, tuple(converters), deferred)
