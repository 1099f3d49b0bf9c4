"""dj-stripe's migrations run as one squashed migration (billing/djstripe_migrations)."""

from importlib import import_module
from pathlib import Path

import djstripe.migrations
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

SHIPPED = {path.stem for path in Path(djstripe.migrations.__file__).parent.glob("0*.py")}


def test_the_squashed_migration_replaces_every_migration_dj_stripe_ships():
    # A dj-stripe upgrade that ships a migration fails here until the squash is written again
    # (scripts/squash_djstripe_migrations.py): otherwise its migration would never run.
    squashed = import_module(f"{settings.MIGRATION_MODULES['djstripe']}.0001_squashed").Migration

    assert {name for app, name in squashed.replaces if app == "djstripe"} == SHIPPED


def test_a_database_looks_as_if_dj_stripe_had_migrated_it(db):
    # The rows dj-stripe's own migrations leave, so an installation migrated before the squash
    # (or after a return to dj-stripe's migrations) has nothing of dj-stripe's left to apply.
    recorded = {name for app, name in MigrationRecorder(connection).applied_migrations()
                if app == "djstripe"}  # fmt: skip
    executor = MigrationExecutor(connection)

    assert recorded >= SHIPPED
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
