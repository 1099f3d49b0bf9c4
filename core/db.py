"""Database connections of long-lived work (streams, sockets)."""

from django.db import connections


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
