"""Real server processes for tests that need a real network peer (an official client, a
worker): they share the test's database, which the test must commit (transactional_db)."""

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from config.runtime import asgi_server_command

REPO = Path(__file__).resolve().parents[1]


def shared_database_url() -> str:
    """The URL of the database this test runs in, for another process."""
    url = urlsplit(settings.DATABASE_URL)
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    pid: int


@contextmanager
def running(
    command: list[str],
    *,
    probe_url: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    start_timeout: float = 60,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` (output to ``log_path``) until the block ends, once ``probe_url``
    answers (within ``start_timeout`` s: starting is slow on a busy machine); stopped with
    SIGTERM, then SIGKILL after 10 s."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    urllib.request.urlopen(probe_url, timeout=1)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log = log_path.read_text()
                        raise RuntimeError(f"{command[0]} did not start:\n{log}") from None
                    time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def live_server(
    env: dict[str, str],
    log_path: Path,
    workers: int = 1,
    port: int | None = None,
    start_timeout: float = 60,
) -> Iterator[LiveServer]:
    """Serve ``config.asgi`` as ``make run`` does (one process, or ``workers``) on a free port
    (or ``port``: a server started again where its clients expect it); ``pid`` is the server's
    (with workers, their supervisor's)."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        asgi_server_command("127.0.0.1", port, workers=workers),
        probe_url=f"{base}/health",
        log_path=log_path,
        start_timeout=start_timeout,
        # Tasks run inside the request: a test's teardown empties the database, and a task
        # still at work on the server's background thread would deadlock with it.
        env={
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "REDIS_URL": "",
            "TASKS_IN_BACKGROUND": "false",
            **env,
        },
    ) as process:
        yield LiveServer(base, process.pid)
