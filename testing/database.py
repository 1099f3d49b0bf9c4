"""The test databases: one template, migrated once, cloned for each run and each xdist worker.

Migrating costs seconds to minutes (every app's migrations); ``CREATE DATABASE ... TEMPLATE``
costs about one. The template is named after the migrations it holds (a fingerprint of every
migration file), so a new or edited migration makes a new template, and a stale one is never
cloned; every session starts from a fresh clone, so nothing a crashed run left behind survives.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_PREFIX = "engram_template_"


def migrations_fingerprint() -> str:
    """A digest of every migration file of every installed app, dj-stripe's squash included."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    digest = hashlib.sha256()
    for key in sorted(loader.disk_migrations):
        module = sys.modules[loader.disk_migrations[key].__module__]
        digest.update(f"{key}".encode())
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def _database_url(name: str) -> str:
    url = urlsplit(settings.DATABASE_URL)
    return url._replace(path=f"/{name}").geturl()


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def _migrate_template(cursor, template: str) -> None:
    """Create ``template`` and migrate it as `make run` would, in a process of its own (this one's
    connection stays on the test database's settings)."""
    for (stale,) in _stale_templates(cursor, template):
        cursor.execute(f'DROP DATABASE IF EXISTS "{stale}"')
    cursor.execute(f'DROP DATABASE IF EXISTS "{template}"')
    cursor.execute(f'CREATE DATABASE "{template}"')
    env = {**os.environ, "DATABASE_URL": _database_url(template), "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        cursor.execute(f'DROP DATABASE IF EXISTS "{template}"')
        raise RuntimeError(f"Migrating the test template failed:\n{result.stdout}{result.stderr}")


def _stale_templates(cursor, current: str) -> list[tuple[str]]:
    cursor.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
        [f"{TEMPLATE_PREFIX}%", current],
    )
    return cursor.fetchall()


def clone_for_this_run(test_name: str, *, rebuild: bool) -> str:
    """Make ``test_name`` a fresh copy of the current template (migrated first if there is none,
    or if ``rebuild``); answer the template's name.

    Runs under a PostgreSQL advisory lock: xdist workers, and other test runs on the same server,
    migrate the template once between them and never clone it while it is being written.
    """
    template = TEMPLATE_PREFIX + migrations_fingerprint()
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('engram test template'))")
        try:
            if rebuild or not _exists(cursor, template):
                _migrate_template(cursor, template)
            cursor.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{test_name}" TEMPLATE "{template}"')
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext('engram test template'))")
    return template


def empty_every_table(connection) -> None:
    """Delete every row of every table, as ``flush`` does after a transactional test.

    ``flush`` truncates all ~100 tables, which makes new files for each table and index: 2-4 s a
    test on a loaded 2-core machine, a third of the whole suite's time. A test leaves rows in a
    few tables; deleting those is a few milliseconds. Foreign keys are checked at commit, when
    everything is empty; rows that a trigger writes while others are deleted (the search
    generations) are deleted by the next pass.
    """
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    quote = connection.ops.quote_name
    holding_rows = " UNION ALL ".join(
        f"SELECT {index} WHERE EXISTS (SELECT FROM {quote(table)})"
        for index, table in enumerate(tables)
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for _ in range(5):
            cursor.execute(holding_rows)
            found = [tables[index] for (index,) in cursor.fetchall()]
            if not found:
                return
            for table in found:
                cursor.execute(f"DELETE FROM {quote(table)}")
    raise RuntimeError(f"Rows came back in {found} five times over: a trigger keeps writing.")


def transactional_test_teardown(test_case) -> None:
    """``TransactionTestCase._fixture_teardown`` with ``flush`` replaced by
    ``empty_every_table``: every table empty and post_migrate emitted, as flush leaves them."""
    from django.core.management.sql import emit_post_migrate_signal
    from django.db import connections

    if test_case.available_apps is not None or test_case.serialized_rollback:
        raise NotImplementedError("flush of some apps, or serialized rollback: use Django's own")
    for alias in test_case._databases_names(include_mirrors=False):
        empty_every_table(connections[alias])
        emit_post_migrate_signal(0, False, alias)
