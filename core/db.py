"""Database connections of long-lived work (streams, sockets), inserting many rows, and locks
that serialise a check and the write it allows."""

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models


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
