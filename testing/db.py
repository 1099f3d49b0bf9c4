"""What the tests see of the database connection pool."""

from asgiref.sync import sync_to_async
from django.db import connection


def connections_in_use() -> int:
    """Connections of this process's pool that someone holds now (idle ones stay open in the
    pool, so PostgreSQL's own count says nothing about who holds one)."""
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


async_connections_in_use = sync_to_async(connections_in_use)
