"""Server-sent events: the framing, the renderer DRF negotiates for them, and a streaming
response that works under both ASGI (an async iterator, cancelled when the client goes away)
and WSGI or the test client (a sync iterator)."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer

from core.db import release_connections

HEARTBEAT = b": keep-alive\n\n"
# One encoder for every frame: json.dumps with arguments builds a new encoder per call.
compact_json = json.JSONEncoder(separators=(",", ":")).encode

# One step of a polled stream: the events to send now, and whether the stream is over.
Step = Callable[[], tuple[Sequence[bytes], bool]]


def sse_event(event: str, data: Any) -> bytes:
    """One SSE frame: ``event: <event>`` and its JSON ``data``."""
    return f"event: {event}\ndata: {compact_json(data)}\n\n".encode()


class EventStreamRenderer(BaseRenderer):
    """Lets a view accept ``Accept: text/event-stream``. The stream itself is a
    StreamingHttpResponse; anything DRF renders through here is an error answered before the
    stream started, and it keeps the JSON error shape and content type."""

    media_type = "text/event-stream"
    format = "sse"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


# A view that may stream: JSON by default, and a client asking only for the stream's own media
# type gets it (without this, DRF answers ``Accept: text/event-stream`` with 406).
STREAM_RENDERERS = [JSONRenderer, EventStreamRenderer]


def event_stream_response(
    request: Any, step: Step, *, interval: float, heartbeat: float = 15.0
) -> StreamingHttpResponse:
    """An SSE response that calls ``step`` every ``interval`` seconds and sends what it returns,
    with a heartbeat comment after ``heartbeat`` idle seconds, until ``step`` says it is over.

    ``step`` is sync (it may read the cache or the database); under ASGI it runs in a worker
    thread and the loop only sleeps, and a client that disconnects ends the stream.
    """
    django_request = getattr(request, "_request", request)
    if isinstance(django_request, ASGIRequest):
        content: Iterator[bytes] | AsyncIterator[bytes] = _async_events(step, interval, heartbeat)
    else:
        content = _sync_events(step, interval, heartbeat)
    return event_stream(content)


class EventStreamResponse(StreamingHttpResponse):
    """A stream of SSE frames (bytes). Under ASGI ``core.asgi`` sends each part as it comes,
    without the generators Django wraps around streaming content for any kind of part."""

    def _set_streaming_content(self, value: Any) -> None:
        super()._set_streaming_content(value)
        self.parts = value  # as last set, so a middleware's wrapping is kept


def event_stream(content: Iterator[bytes] | AsyncIterator[bytes]) -> EventStreamResponse:
    """A response that sends SSE frames as they are produced, through any proxy.

    Call it from the view: it gives the request's database connection back first, where Django
    would keep it until the response ends (see ``core.db.release_connections``).
    """
    release_connections()
    response = EventStreamResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def wants_event_stream(request: Any) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


class _Heartbeat:
    """Adds a heartbeat comment when nothing was sent for ``every`` seconds."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.quiet_since = time.monotonic()

    def after(self, events: Sequence[bytes]) -> Sequence[bytes]:
        now = time.monotonic()
        if events:
            self.quiet_since = now
            return events
        if now - self.quiet_since >= self.every:
            self.quiet_since = now
            return [HEARTBEAT]
        return ()


def _sync_events(step: Step, interval: float, heartbeat: float) -> Iterator[bytes]:
    beat = _Heartbeat(heartbeat)
    while True:
        events, done = step()
        yield from beat.after(events)
        if done:
            return
        time.sleep(interval)


async def _async_events(step: Step, interval: float, heartbeat: float) -> AsyncIterator[bytes]:
    run_step = sync_to_async(step, thread_sensitive=False)
    beat = _Heartbeat(heartbeat)
    while True:
        events, done = await run_step()
        for event in beat.after(events):
            yield event
        if done:
            return
        await asyncio.sleep(interval)
