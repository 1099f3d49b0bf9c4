"""Raw uploads that stall half-way hold no database connection while they wait for the
client's bytes: with more of them than the server's pool has connections, other requests are
still answered; one user may keep only STORAGE_UPLOADS_PER_USER of them open at once."""

import hashlib
import http.client
import select
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing
from urllib.parse import urlsplit

import pytest

from backups.tests.conftest import make_user, token_for
from testing.live import live_server

pytestmark = pytest.mark.django_db(transaction=True)
STALLED = 50
PER_USER = 4
POOL_SIZE = 10
DECLARED = 1000
FIRST_BYTES = b"0123456789"
UPLOADS_OPEN = 'engram_streams_open{kind="upload"}'
CONNECTIONS_IN_USE = 'engram_db_pool_connections{state="in_use"}'


def stall_upload(url: str, token: str) -> socket.socket:
    """Headers and 10 of the 1000 bytes the upload declares, then nothing; the socket stays
    open (the caller closes it)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sock = socket.create_connection((host, port), timeout=30)
    checksum = hashlib.sha256(FIRST_BYTES * (DECLARED // len(FIRST_BYTES))).hexdigest()
    head = (
        f"POST /api/v1/storage/records?table=x HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {DECLARED}\r\nX-Checksum: {checksum}\r\n\r\n"
    )
    sock.sendall(head.encode() + FIRST_BYTES)
    return sock


def get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def gauge(url: str, series: str) -> float:
    """One series of the live server's /metrics, e.g. ``engram_streams_open{kind="upload"}``."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return 0.0


@pytest.fixture
def server(tmp_path, django_db_blocker) -> Iterator[str]:
    env = {
        "LOG_LEVEL": "WARNING",
        "RATELIMIT_ENABLE": "false",
        "STORAGE_BACKEND": "filesystem",
        "STORAGE_ROOT": str(tmp_path / "blobs"),
        # The stalls outlast the test; a request that waits for a connection gives up soon.
        "STREAMED_UPLOAD_IDLE_SECONDS": "600",
        "DATABASE_POOL_MAX_SIZE": str(POOL_SIZE),
        "DATABASE_POOL_TIMEOUT": "5",
        "STORAGE_UPLOADS_PER_USER": str(PER_USER),
    }
    with live_server(env, tmp_path / "server.log") as live:
        yield live.url


def test_stalled_uploads_hold_no_connection_and_other_requests_are_answered(server):
    # Given more stalled uploads than the pool has connections, from users under their cap
    users = [make_user() for _ in range(-(-STALLED // PER_USER))]
    tokens = [token_for(user) for user in users]
    with ExitStack() as sockets:
        stalled = [
            sockets.enter_context(closing(stall_upload(server, tokens[number // PER_USER])))
            for number in range(STALLED)
        ]
        # Then they all wait for their bytes holding no connection (the scrape that says so
        # may hold one)
        deadline = time.monotonic() + 90
        while gauge(server, UPLOADS_OPEN) < STALLED or gauge(server, CONNECTIONS_IN_USE) > 1:
            # A stalled upload is answered only once it fails (a 503: no connection was left).
            answered, _, _ = select.select(stalled, [], [], 0.5)
            assert not answered, answered[0].recv(4096)
            assert time.monotonic() < deadline, "the stalled uploads never all waited"

        # When other requests come, they are answered
        for token in tokens[:5]:
            status, body = get(f"{server}/api/v1/memories?limit=1", token)
            assert status == 200, body

        # And a user at the cap is refused another upload, in the error shape
        extra = stall_upload(server, tokens[0])
        sockets.enter_context(closing(extra))
        refusal = http.client.HTTPResponse(extra)
        refusal.begin()
        body = refusal.read()
        assert refusal.status == 429, body
        assert b'"code":"RATE_LIMITED"' in body.replace(b" ", b"")
