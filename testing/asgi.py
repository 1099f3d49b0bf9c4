"""Drive the real ASGI application in-process, event by event, as the ASGI server would: streamed
response bodies arrive as they are sent, and the client can hang up mid-stream."""

import json
from typing import Any

from channels.testing import ApplicationCommunicator


def http_scope(
    method: str, path: str, *, headers: list[tuple[bytes, bytes]] = (), query: bytes = b""
) -> dict:
    """The scope of an HTTP/1.1 request to ``path`` from a local client: a Host header, then
    ``headers``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


class AsgiHttpClient:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def open(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> "AsgiExchange":
        raw = json.dumps(body).encode() if body is not None else b""
        header_list = [(b"content-type", b"application/json")]
        header_list += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        header_list.append((b"content-length", str(len(raw)).encode()))
        path, _, query = path.partition("?")
        scope = http_scope(method, path, headers=header_list, query=query.encode())
        communicator = ApplicationCommunicator(self.application, scope)
        await communicator.send_input({"type": "http.request", "body": raw, "more_body": False})
        start = await communicator.receive_output(timeout=10)
        return AsgiExchange(communicator, start["status"], dict(start["headers"]))


class AsgiExchange:
    def __init__(self, communicator: ApplicationCommunicator, status: int, headers: dict) -> None:
        self.communicator = communicator
        self.status = status
        self.headers = {k.decode().lower(): v.decode() for k, v in headers.items()}
        self.finished = False

    async def chunk(self, timeout: float = 10) -> bytes:
        """The next piece of the body (b"" once the response has ended)."""
        if self.finished:
            return b""
        message = await self.communicator.receive_output(timeout=timeout)
        self.finished = not message.get("more_body", False)
        return message.get("body", b"")

    async def body(self, timeout: float = 10) -> bytes:
        parts = []
        while not self.finished:
            parts.append(await self.chunk(timeout))
        return b"".join(parts)

    async def disconnect(self) -> None:
        """The client hangs up; waits for the application to finish its clean-up."""
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(timeout=10)


def parse_sse(raw: bytes) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of an SSE body; comments (heartbeats) come as ``(":", text)``."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame.strip():
            continue
        if frame.startswith(":"):
            events.append((":", frame[1:].strip()))
            continue
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        data = fields.get("data", "")
        events.append(
            (fields.get("event", "message"), data if data == "[DONE]" else json.loads(data))
        )
    return events
