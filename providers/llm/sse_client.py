"""The HTTP/1.1 client that reads streamed answers: an asyncio Protocol with httptools' parser.

A streamed answer is hundreds of small reads. Through httpx each read passes httpcore and
anyio, which opens a cancel scope per read for its timeout (~8% of a busy web process on its
own, bench/README.md); here a read is one ``data_received`` call that parses the HTTP framing
and the server-sent events in C and Python without a task switch, and the reader is woken once
for everything that arrived meanwhile. The read timeout is one timer per stream that fires
only when the upstream has been silent for that long.

Connections are kept per (scheme, host, port) and reused, as httpx's pool does; a kept
connection the server closed in the meantime is replaced without the caller seeing it.
"""

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import certifi
import httptools

# As many kept connections per host as the SDK's default pool keeps.
MAX_IDLE_PER_HOST = 100
DEFAULT_PORTS = {"http": 80, "https": 443}
# How long an answered stream's connection may take to end its body and be kept.
DRAIN_SECONDS = 1.0
# Scheme, host, port, and whether the connection went to a checked address: one made for a
# base URL the operator set is never handed to a request for a URL a user gave.
PoolKey = tuple[str, str, int, bool]
# Answers the address to connect to for (host, port), or raises.
Resolver = Callable[[str, int], Awaitable[str]]


class UpstreamTimeout(Exception):
    """The upstream did not connect, or was silent, for longer than allowed."""


class UpstreamDisconnected(Exception):
    """The connection failed or closed before the response was complete."""


class UpstreamStatus(Exception):
    """A response other than 200: its status, headers and whole body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        super().__init__(f"HTTP {status}")


class SSEParser:
    """The ``data`` of server-sent events fed in pieces (multi-line data joined).

    Lines end at LF or CRLF only: JSON may hold U+2028 and friends, which a text line splitter
    would cut at.
    """

    def __init__(self) -> None:
        self._rest = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[str]:
        """The events ``chunk`` completed, in order."""
        *lines, self._rest = (self._rest + chunk).split(b"\n")
        events: list[str] = []
        for raw in lines:
            line = raw.removesuffix(b"\r")
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data).decode())
                    self._data = []
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        return events

    def end(self) -> list[str]:
        """The last event when the body ended without its blank line."""
        line = self._rest.removesuffix(b"\r")
        if line.startswith(b"data:"):
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        events = [b"\n".join(self._data).decode()] if self._data else []
        self._rest, self._data = b"", []
        return events


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one response at a time is read from it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._prepare()

    def _prepare(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_done = self.complete = self.keep_alive = self.received = False
        self.body = bytearray()
        self.sse = SSEParser()
        self.events: list[str] = []
        self.last_read = self.loop.time()
        self.read_timeout = 0.0
        self.timed_out = False
        self._timer: asyncio.TimerHandle | None = None
        self.after_complete: Callable[[], None] | None = None
        self.drain_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.lost = exc
            self.transport.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or UpstreamDisconnected("The upstream closed the connection.")
        self._wake()

    # --- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        if self.status == 200:
            self.events += self.sse.feed(body)
        else:
            self.body += body

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        if self.status == 200:
            self.events += self.sse.end()
        if self.after_complete is not None:
            self.drain_timer.cancel()
            self.loop.call_soon(self.after_complete)

    # --- the reader's side ---------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def watch(self, read_timeout: float) -> None:
        """Start the one silence timer of this response (a timer per read would cost more)."""
        self.read_timeout = read_timeout
        self.last_read = self.loop.time()
        self._timer = self.loop.call_at(self.last_read + read_timeout, self._check_silence)

    def unwatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def wait(self) -> None:
        """Until something arrives, the connection ends, or the upstream is silent too long."""
        if self.lost is None and not self.complete and not self.timed_out:
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.timed_out:
            raise UpstreamTimeout("The upstream was silent for too long.")

    def _check_silence(self) -> None:
        # Fires at the deadline the last read set when it was started; reads since then only
        # move it on. A reader busy elsewhere is not the upstream's silence.
        self._timer = None
        if self.complete or self.lost is not None:
            return
        now, deadline = self.loop.time(), self.last_read + self.read_timeout
        if now < deadline or self._waiter is None:
            self._timer = self.loop.call_at(max(deadline, now + 0.001), self._check_silence)
            return
        self.timed_out = True
        self._wake()

    def failure(self) -> BaseException:
        if isinstance(self.lost, UpstreamDisconnected):
            return self.lost
        return UpstreamDisconnected(str(self.lost or "The connection closed."))

    @property
    def reusable(self) -> bool:
        return self.lost is None and self.transport is not None and not self.transport.is_closing()


class StreamedResponse:
    """A 200 response whose body is server-sent events. Use ``batches()`` then ``close()``."""

    def __init__(self, pool: "SSEClient", key: PoolKey, connection: _Connection) -> None:
        self._pool, self._key, self._connection = pool, key, connection
        self.headers = connection.headers

    async def batches(self) -> AsyncIterator[list[str]]:
        """The events' data, a list per wake-up: everything that arrived since the last one."""
        connection = self._connection
        while True:
            if connection.events:
                batch, connection.events = connection.events, []
                yield batch
                continue
            if connection.complete:
                return
            if connection.lost is not None:
                raise connection.failure()
            await connection.wait()

    def close(self, *, answered: bool = False) -> None:
        """Give the connection back when the answer was read to its end; else close it, so the
        provider sees the client go and stops generating.

        ``answered``: the caller read the answer's last event ([DONE]). The body's end usually
        follows in the next read; the connection is kept if it comes within
        ``DRAIN_SECONDS``.
        """
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if answered and not connection.complete and connection.reusable:
            connection.unwatch()
            connection.after_complete = lambda: self._pool._release(self._key, connection)
            connection.drain_timer = connection.loop.call_later(
                DRAIN_SECONDS, connection.transport.close
            )
            return
        self._pool._release(self._key, connection)


class SSEClient:
    """A pool of HTTP/1.1 connections on one event loop, for streamed POST requests."""

    def __init__(self) -> None:
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def post_stream(
        self,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes,
        connect_timeout: float,
        read_timeout: float,
        resolve: Resolver | None = None,
    ) -> StreamedResponse:
        """POST ``body`` to ``url`` and wait for the response's head; a new connection goes to
        the address ``resolve`` answers for the host, when given.

        Raises ``UpstreamStatus`` (with the whole body) for any status but 200,
        ``UpstreamTimeout`` and ``UpstreamDisconnected``; ``OSError`` when it cannot connect;
        what ``resolve`` raises.
        """
        split = urlsplit(url)
        host = split.hostname or ""
        port = split.port or DEFAULT_PORTS.get(split.scheme, 80)
        key = (split.scheme, host, port, resolve is not None)
        path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        netloc = host if split.port is None else f"{host}:{split.port}"
        head = [f"POST {path} HTTP/1.1", f"Host: {netloc}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        while True:
            connection, reused = await self._acquire(key, connect_timeout, resolve)
            connection.transport.write(request)
            connection.watch(read_timeout)
            try:
                while not connection.headers_done:
                    if connection.lost is not None:
                        raise connection.failure()
                    await connection.wait()
            except UpstreamDisconnected:
                connection.unwatch()
                connection.transport.close()
                # A kept connection the server had closed while idle: the request never
                # reached it, so it goes again on a new one.
                if reused and not connection.received:
                    continue
                raise
            except BaseException:
                connection.unwatch()
                connection.transport.close()
                raise
            break
        if connection.status != 200:
            try:
                while not connection.complete and connection.lost is None:
                    await connection.wait()
                raise UpstreamStatus(connection.status, connection.headers, bytes(connection.body))
            finally:
                self._release(key, connection)
        return StreamedResponse(self, key, connection)

    async def _acquire(
        self, key: PoolKey, connect_timeout: float, resolve: Resolver | None
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.reusable:
                connection._prepare()
                return connection, True
        loop = asyncio.get_running_loop()
        scheme, host, port, _ = key
        tls = self._ssl_context() if scheme == "https" else None

        async def connect() -> tuple[asyncio.BaseTransport, _Connection]:
            address = host if resolve is None else await resolve(host, port)
            # TLS checks the certificate against the host's name, whatever address it is at.
            return await loop.create_connection(
                lambda: _Connection(loop), address, port, ssl=tls, server_hostname=tls and host
            )

        try:
            _, connection = await asyncio.wait_for(connect(), connect_timeout)
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not accept the connection in time.") from exc
        return connection, False

    def _release(self, key: PoolKey, connection: _Connection) -> None:
        connection.unwatch()
        idle = self._idle.setdefault(key, [])
        kept = connection.complete and connection.keep_alive and connection.reusable
        if kept and len(idle) < MAX_IDLE_PER_HOST:
            idle.append(connection)
            return
        if connection.transport is not None:
            connection.transport.close()

    def _ssl_context(self) -> ssl.SSLContext:
        # What httpx verifies against: certifi's roots, or SSL_CERT_FILE when it is set.
        if self._ssl is None:
            self._ssl = ssl.create_default_context(
                cafile=os.environ.get("SSL_CERT_FILE") or certifi.where()
            )
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def close(self) -> None:
        """Close every kept connection."""
        for idle in self._idle.values():
            for connection in idle:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
