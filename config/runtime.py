"""What the process runs on: version, git commit, and the embedded PostgreSQL.

Kept free of Django imports because settings import it.
"""

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

VERSION = "0.1.0"
_REPO_DIR = Path(__file__).resolve().parent.parent


def embedded_database_url(data_dir: Path) -> str:
    """Start (or attach to) the pgserver PostgreSQL + pgvector in ``data_dir``; return its URL.

    Every process that calls this (web server, worker, tests) shares one server per data dir;
    the server stops when the last attached process exits normally (`make stop` cleans up after
    a process that was killed).
    """
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # pgserver keeps its lock file under XDG_RUNTIME_DIR, read when the module is imported: all
    # processes must agree on it, so pin it next to the data before the import.
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    # Its INFO lines (every pg_ctl call) come before Django configures logging.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    import pgserver

    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri()


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


def asgi_server_command(host: str, port: int) -> list[str]:
    """The command that serves ``config.asgi`` (HTTP, SSE and WebSockets) in one process.

    uvicorn on uvloop with the httptools parser: measured with ``make bench-chat``, a streamed
    turn costs about a quarter less CPU than under daphne, whose Twisted reactor re-registers the
    socket with epoll for every write; at 60 concurrent streams the added time to first token
    fell from ~550 ms to ~100 ms (bench/README.md).
    """
    return [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        # Open streams must not hold a stop (Ctrl+C, a deploy) for longer than this.
        "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
