"""Django's ASGI handler, except that raw bodies sent to the routes in STREAMED_UPLOAD_PATHS
reach their views unread, and that a request's middleware and view run in one thread, which
is kept for the next request (RequestThreads) rather than started for each.

Django's own handler reads every request body to its end (into a temporary file) before any
middleware or view runs: a 5 GB backup would be received whole before its size or its sender's
quota could be checked, then copied a second time. For those routes the body stays in the
connection instead: the view reads it like a file (``request.read(n)``), each read taking the
next messages from the server, so the view can refuse before the first byte (from
Content-Length) or stop half-way, and memory holds one read at a time. Everything else (other
routes, JSON bodies on these routes) goes through Django's handler unchanged.

A client that stops sending half-way would hold the view's worker thread for as long as it stays
connected: a read that waits STREAMED_UPLOAD_IDLE_SECONDS without a byte raises BodyStalled
instead (a 408 in the error shape), and the view drops what it stored. No database connection
is held while a read waits for the client.

The routes in EARLY_BODY_HOOKS also show their (small) body, as soon as it has arrived, to a
function of their domain, on the event loop, before the request's thread runs its middleware and
view: search starts its query's embedding there (memories.api.prefetch).
"""

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import BadRequest
from django.core.handlers.asgi import ASGIHandler
from django.utils.module_loading import import_string

from core.db import release_connections
from core.errors import EngramError, ErrorCode
from core.sse import EventStreamResponse

logger = logging.getLogger(__name__)

STREAMED_CONTENT_TYPE = "application/octet-stream"
# Bodies larger than this are not shown to an early hook: what it looks at (a search) is small.
EARLY_BODY_MAX_BYTES = 16 * 1024

EarlyBodyHook = Callable[[Mapping[str, str], bytes], None]


def is_streamed_upload(path: str, content_type: str) -> bool:
    """Is this a raw body that its view streams itself (so no general body limit applies)?"""
    if content_type.split(";")[0].strip().lower() != STREAMED_CONTENT_TYPE:
        return False
    return any(re.match(pattern, path) for pattern in settings.STREAMED_UPLOAD_PATHS)


class BodyIncomplete(BadRequest):
    """The client went away before its body ended (a torn upload)."""


class BodyStalled(EngramError):
    """No byte of the body arrived for STREAMED_UPLOAD_IDLE_SECONDS."""

    status_code = 408
    code = ErrorCode.REQUEST_TIMEOUT


class StreamedBody(io.RawIOBase):
    """The request body as a file, read from the ASGI ``receive`` channel as the view asks."""

    def __init__(self, receive) -> None:
        super().__init__()
        self.receive = receive
        self.finished = asyncio.Event()
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    async def _fill(self, size: int) -> None:
        while not self.finished.is_set() and (size < 0 or len(self._buffer) < size):
            idle = settings.STREAMED_UPLOAD_IDLE_SECONDS
            try:
                message = await asyncio.wait_for(self.receive(), timeout=idle)
            except TimeoutError:
                # Not an OSError (TimeoutError is one): Django would call it an unreadable body.
                raise BodyStalled(
                    f"No part of the body arrived for {idle} seconds; the upload was dropped.",
                    details={"idle_seconds": idle},
                ) from None
            if message["type"] == "http.disconnect":
                raise BodyIncomplete("The client disconnected before the body ended.")
            self._buffer += message.get("body", b"")
            if not message.get("more_body", False):
                self.finished.set()

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        if not self.finished.is_set() and (size < 0 or len(self._buffer) < size):
            # The client may take minutes to send, or stop: the view's connection (taken by
            # authentication and the quota check) goes back to the pool meanwhile, else a few
            # dozen slow uploads hold them all and every other request waits.
            release_connections()
            # Views run in a worker thread; the channel belongs to the event loop.
            async_to_sync(self._fill)(size)
        if size < 0 or size > len(self._buffer):
            size = len(self._buffer)
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return ""


def early_body_hook(path: str) -> EarlyBodyHook | None:
    """The function EARLY_BODY_HOOKS names for ``path``, or None."""
    name = settings.EARLY_BODY_HOOKS.get(path)
    return import_string(name) if name else None


def body_shown(receive, hook: EarlyBodyHook, scope: dict):
    """``receive``, which also calls ``hook(headers, body)`` once the whole body has arrived
    (unless it passed EARLY_BODY_MAX_BYTES). Header names are lower case, as ASGI gives them."""
    parts: list[bytes] | None = []
    size = 0
    headers_in = scope["headers"]

    async def receiving() -> dict:
        nonlocal parts, size
        message = await receive()
        if parts is None or message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > EARLY_BODY_MAX_BYTES:
            parts = None
            return message
        parts.append(chunk)
        if not message.get("more_body", False):
            body, parts = b"".join(parts), None
            headers = {name.decode("latin1"): value.decode("latin1") for name, value in headers_in}
            try:
                hook(headers, body)
            except Exception:
                # A head start, never a reason to fail the request: the view does the work anyway.
                logger.exception("The early body hook of %s failed", scope["path"])
        return message

    return receiving


class RequestThreads:
    """The threads that run requests' sync parts (middleware, view, signals), each one request
    at a time, kept from one request to the next.

    Django gives each request a thread of its own (ThreadSensitiveContext), so that its sync
    parts share one thread and requests run side by side; but it starts that thread for the
    request and a second one to join it at the end: ~0.6 ms a request at the median on this
    project's machine, several at the tail when it is loaded (bench/HISTORY.md, "The request
    path, second pass"). Here a request borrows an idle thread instead (a new one when none is
    idle) and gives it back when it ends. Only the event loop's thread borrows and gives back.
    """

    def __init__(self, idle_max: int = 64) -> None:
        self.idle: list[ThreadPoolExecutor] = []
        self.idle_max = idle_max

    def borrow(self) -> ThreadPoolExecutor:
        if self.idle:
            return self.idle.pop()  # the most recently used: its stack is still in the caches
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        # Idle again once what the request left queued there has run (a view still running for a
        # client that went away), never while it does: the next request would wait behind it.
        loop = asyncio.get_running_loop()

        def done(_) -> None:
            try:
                loop.call_soon_threadsafe(self._idle_again, executor)
            except RuntimeError:  # the loop has closed (a test's)
                executor.shutdown(wait=False)

        executor.submit(int).add_done_callback(done)

    def _idle_again(self, executor: ThreadPoolExecutor) -> None:
        if len(self.idle) < self.idle_max:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


class StreamedBodyASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # Django refuses it
        executor = self.threads.borrow()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)

    def load_middleware(self, is_async: bool = False) -> None:
        # Every middleware here is sync-capable and every view sync (DRF's): built as under
        # WSGI (as the tests run it), a request runs in one worker thread, one hop from the event
        # loop and one back. Built for async, the stack hopped back and forth around each sync
        # part (WhiteNoise, and every hook of Django's MiddlewareMixin runs in sync_to_async):
        # ~15% of a search's request thread (bench/HISTORY.md, "The request path over HTTP").
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        # As Django runs a sync view: in the request's own thread (RequestThreads).
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def handle(self, scope, receive, send):
        if is_streamed_upload(scope["path"], _header(scope, b"content-type")):
            receive = StreamedBody(receive)
        elif (hook := early_body_hook(scope["path"])) is not None:
            receive = body_shown(receive, hook, scope)
        await super().handle(scope, receive, send)

    async def read_body(self, receive):
        if isinstance(receive, StreamedBody):
            return receive
        return await super().read_body(receive)

    async def send_response(self, response, send):
        if not (isinstance(response, EventStreamResponse) and response.is_async):
            return await super().send_response(response, send)
        # An event stream's parts are bytes already: each goes out as it is, one send per part
        # (Django's path passes every part through three generators on the way).
        headers = [
            (name.encode("ascii"), value.encode("latin1")) for name, value in response.items()
        ]
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        async with contextlib.aclosing(response.parts) as parts:
            async for part in parts:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body"})

    async def listen_for_disconnect(self, receive):
        if isinstance(receive, StreamedBody):
            # Until the view has read the body, the channel's messages are the view's; a
            # disconnect meanwhile reaches the view as BodyIncomplete.
            await receive.finished.wait()
            receive = receive.receive
        return await super().listen_for_disconnect(receive)


def get_asgi_application() -> StreamedBodyASGIHandler:
    """``django.core.asgi.get_asgi_application`` with streamed upload bodies."""
    django.setup(set_prefix=False)
    return StreamedBodyASGIHandler()
