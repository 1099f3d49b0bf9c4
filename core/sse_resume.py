"""Resuming a dropped SSE stream with ``Last-Event-ID``.

A stream that may be resumed gives each frame an ``id: <stream id>.<n>`` (n counts from 1) and
keeps its frames in the ``streams`` cache as they go out: Redis when ``REDIS_URL`` is set (any
web process can resume it), this process's memory otherwise. They stay ``SSE_RESUME_SECONDS``
after the last one, at most the newest ``SSE_RESUME_MAX_EVENTS`` of a stream (a ring: a
stream longer than that keeps its tail). A client that reconnects with the id of the last
frame it got is sent every frame after it, then the live ones until the stream ends; when a
frame it missed is no longer kept, it is told so (410 ``STREAM_EXPIRED``) rather than sent a
stream with a hole.

Writes never hold up the stream: a batch of frames goes to the cache from a worker thread while
the next is produced (one write at a time per stream, the frames that came meanwhile together).
"""

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches

from core.errors import EngramError, ErrorCode, NotFound, ValidationFailed
from core.sse import Step, sse_event

logger = logging.getLogger(__name__)
LAST_EVENT_ID = "Last-Event-ID"
_EVENT_ID = re.compile(r"^([0-9a-f-]{1,64})\.([0-9]{1,9})$")
# Writes still running when their stream's generator was closed (kept so none is collected).
_unfinished: set[asyncio.Task] = set()


class StreamExpired(EngramError):
    status_code = 410
    code = ErrorCode.STREAM_EXPIRED
    default_message = "That stream is no longer kept; fetch what it produced instead."


def stream_store() -> BaseCache:
    """Where streams are kept: the ``streams`` cache (its own, so a long stream never crowds
    out the default cache's entries), else the default one."""
    return caches["streams" if "streams" in settings.CACHES else "default"]


def _header_key(stream_id: str) -> str:
    return f"sse:{stream_id}"


def _frame_key(stream_id: str, number: int) -> str:
    return f"sse:{stream_id}:{number % settings.SSE_RESUME_MAX_EVENTS}"


def event_id_parse(value: str) -> tuple[str, int]:
    """``(stream id, frame number)`` of a ``Last-Event-ID``; ValidationFailed when malformed."""
    match = _EVENT_ID.match(value.strip())
    if match is None:
        raise ValidationFailed(
            "Last-Event-ID is not an id this server sent.",
            details={LAST_EVENT_ID: ["Expected '<stream id>.<number>', as the id: lines say."]},
        )
    return match.group(1), int(match.group(2))


class StreamRecorder:
    """Numbers a stream's frames and keeps them for resuming. ``owner``: what a resume must
    match (the user, and whatever else the view checks), kept with the stream."""

    def __init__(self, stream_id: str, owner: dict[str, str]) -> None:
        self.stream_id = stream_id
        self.owner = owner
        self.number = 0
        self.done = False
        self._pending: dict[str, Any] = {}
        self._writing: asyncio.Task | None = None
        self._failed = False

    def frames(self, events: Sequence[tuple[str, str]], *, last: bool = False) -> bytes:
        """The SSE frames of ``events`` (``(name, data as JSON)``), with their ids; kept for
        resuming. ``last``: the stream ends with them."""
        out = []
        for name, data in events:
            self.number += 1
            frame = f"id: {self.stream_id}.{self.number}\nevent: {name}\ndata: {data}\n\n".encode()
            self._pending[_frame_key(self.stream_id, self.number)] = (self.number, frame)
            out.append(frame)
        self.done = self.done or last
        header = {"owner": self.owner, "last": self.number, "done": self.done}
        self._pending[_header_key(self.stream_id)] = header
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write())
            _unfinished.add(self._writing)
            self._writing.add_done_callback(_unfinished.discard)
        return b"".join(out)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                set_many = sync_to_async(stream_store().set_many, thread_sensitive=False)
                await set_many(batch, timeout=settings.SSE_RESUME_SECONDS)
            except Exception:  # the cache (Redis) is down: the stream goes on, unresumable
                if not self._failed:  # once a stream, not once a token
                    logger.warning("Could not keep stream %s for resuming", self.stream_id)
                self._failed = True


def _stream_header(stream_id: str, owner: dict[str, str]) -> dict[str, Any]:
    header = stream_store().get(_header_key(stream_id))
    if header is None:
        raise StreamExpired(
            details={"stream_id": stream_id, "kept_seconds": settings.SSE_RESUME_SECONDS}
        )
    if header["owner"] != owner:
        raise NotFound("No such stream.")
    return header


def _frames_after(stream_id: str, after: int, last: int) -> list[bytes]:
    """Frames ``after`` + 1 … ``last``; StreamExpired when one of them is no longer kept."""
    if last <= after:
        return []
    numbers = range(after + 1, last + 1)
    found = stream_store().get_many([_frame_key(stream_id, n) for n in numbers])
    frames = []
    for number in numbers:
        kept = found.get(_frame_key(stream_id, number))
        if kept is None or kept[0] != number:
            raise StreamExpired(
                "A frame after that id is no longer kept.",
                details={"stream_id": stream_id, "missing_from": number},
            )
        frames.append(kept[1])
    return frames


def resume_step(stream_id: str, after: int, owner: dict[str, str]) -> Step:
    """The ``core.sse.event_stream_response`` step that sends stream ``stream_id``'s frames
    after number ``after``, then the new ones as they are kept, until the stream ended.

    Checks at once (raising before any byte is sent): NotFound when the stream is another
    owner's, StreamExpired when it or a frame after ``after`` is no longer kept. Later, a
    stream that stops being kept before it ended ends with an ``error`` event of that code.
    """
    header = _stream_header(stream_id, owner)
    first = _frames_after(stream_id, after, header["last"])
    sent = max(after, header["last"])

    def step() -> tuple[list[bytes], bool]:
        nonlocal first, sent, header
        if first is not None:
            frames, first = first, None
            return frames, header["done"] and sent >= header["last"]
        try:
            header = _stream_header(stream_id, owner)
            frames = _frames_after(stream_id, sent, header["last"])
        except StreamExpired as exc:
            return [sse_event("error", {"code": str(exc.code), "message": exc.message})], True
        sent = max(sent, header["last"])
        return frames, header["done"]

    return step
