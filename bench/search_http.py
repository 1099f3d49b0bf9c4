"""The search endpoint over HTTP, as a client reaches it (issue 26): the ASGI server `make run`
serves (uvicorn with config/runtime.py's flags, one process) started in a process of its own on a
free port and on the benchmark's database, and a client that sends an API key on one kept-alive
connection. Each response's ``Server-Timing`` header says which index answered the search.
"""

import http.client
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

APP = "config.asgi:application"
STARTUP_SECONDS = 120
# The share of the user's per-minute limit a client uses: the rate limit counts every request,
# as for any client, and never refuses one.
PACE = 0.95


def goal(hybrid_p95: float, embedding_p95: float, *, factor: float, plus_ms: float) -> dict:
    """Issue 26's goal: the hybrid search's p95 over HTTP at most ``factor`` times the query
    embedding's p95 + ``plus_ms``."""
    limit = round(factor * embedding_p95 + plus_ms, 2)
    return {"limit_ms": limit, "met": hybrid_p95 <= limit}


@contextmanager
def search_server(*, app: str = APP, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve ``app`` as `make run` does, on the benchmark's database; yield its address
    (host:port). ``env``: settings of the server's own (its environment)."""
    from config.runtime import asgi_server_command
    from testing.live import free_port, running, shared_database_url

    port = free_port()
    command = [part if part != APP else app for part in asgi_server_command("127.0.0.1", port)]
    with tempfile.TemporaryDirectory(prefix="engram-bench-server-") as data_dir:
        metrics = Path(data_dir) / "metrics"
        metrics.mkdir()
        environment = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            # Its own run folder and metrics (as `serve` prepares them), not the checkout's.
            "ENGRAM_DATA_DIR": data_dir,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        with running(
            command,
            probe_url=f"http://127.0.0.1:{port}/health",
            log_path=Path(data_dir) / "server.log",
            env=environment,
            start_timeout=STARTUP_SECONDS,
        ):
            yield f"127.0.0.1:{port}"


def api_key_for(user) -> str:
    """A new API key of ``user`` that may read memories: what a client authenticates with."""
    from accounts.models import ApiScope
    from accounts.services import api_key_create

    _, secret = api_key_create(user=user, name="search benchmark", scopes=[ApiScope.MEMORIES_READ])
    return secret


@dataclass(frozen=True)
class Answer:
    ms: float  # from sending the request to the last byte of the answer, on the client
    ids: list[str]
    vector_path: str  # which index answered (Server-Timing's description)
    search_ms: float  # of ``ms``, the search's own (its took_ms): the rest is the request's


class SearchClient:
    """POST /api/v1/memories/search as a user, with an API key of theirs (made on their first
    search), on one kept-alive connection, a little under each user's requests per minute (a
    pause before a request keeps the pace)."""

    def __init__(self, address: str) -> None:
        host, port = address.split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.keys: dict = {}  # user id: (API key, seconds between requests)
        self.last: dict = {}  # user id: when their last request was sent

    def search(
        self, user, query: str, *, mode: str = "hybrid", top_k: int = 10, rested: bool = False
    ) -> Answer:
        """``rested``: after a whole pause of the pace, whenever this client last asked (so a
        request to another server, bench/search_floor.py, follows the same idle time as one of
        Engram's)."""
        from billing.tiers import limits_for

        if user.pk not in self.keys:
            interval = 60.0 / (limits_for(user).requests_per_minute * PACE)
            self.keys[user.pk] = (api_key_for(user), interval)
        secret, interval = self.keys[user.pk]
        pause = interval if rested else self.last.get(user.pk, 0.0) + interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self.last[user.pk] = time.monotonic()
        body = json.dumps({"query": query, "mode": mode, "top_k": top_k})
        headers = {"Content-Type": "application/json", "X-API-Key": secret}
        started = time.perf_counter()
        try:
            response = self._post(body, headers)
        except (ConnectionError, http.client.RemoteDisconnected):
            # The server closed the kept-alive connection (idle past its keep-alive timeout):
            # a client opens another, as HTTP libraries do, and that is timed too.
            self.connection.close()
            response = self._post(body, headers)
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"search answered {response.status}: {payload[:500]!r}")
        body = json.loads(payload)
        timing = response.getheader("Server-Timing", "")
        path = timing.partition('desc="')[2].rstrip('"') if 'desc="' in timing else ""
        ids = [row["id"] for row in body["results"]]
        return Answer(ms=elapsed, ids=ids, vector_path=path, search_ms=body["took_ms"])

    def _post(self, body: str, headers: dict) -> http.client.HTTPResponse:
        self.connection.request("POST", "/api/v1/memories/search", body, headers)
        return self.connection.getresponse()

    def close(self) -> None:
        self.connection.close()
