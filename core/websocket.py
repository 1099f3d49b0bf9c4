"""The plumbing every WebSocket consumer shares: the subprotocol, closing an anonymous socket,
JSON frames with the error shape, a ping every 30 s, and the socket's tasks cancelled when it
closes. Authentication itself is ASGI middleware (accounts.websocket); a consumer receives
``scope["user"]`` or None."""

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import OperationalError

from core.db import release_connections
from core.errors import DATABASE_BUSY_MESSAGE, INTERNAL_ERROR_MESSAGE, ErrorCode, known_error
from core.parsers import JSONInputError, json_loads

logger = logging.getLogger(__name__)

PROTOCOL = "engram.v1"
UNAUTHENTICATED = 4401


def _authenticated(credential: Any) -> bool:
    try:
        return credential.authenticated() is not None
    finally:
        release_connections()  # an open socket holds none


class SocketConsumer(AsyncJsonWebsocketConsumer):
    """Subclasses implement ``receive_json(frame)``; ``frame`` is always a JSON object (anything
    else is answered with a ``VALIDATION_ERROR`` frame here). Work a frame starts runs in
    ``start(...)``, so that closing the socket cancels it."""

    ping_seconds = 30.0

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.tasks: set[asyncio.Task] = set()
        offered = PROTOCOL if PROTOCOL in self.scope.get("subprotocols", []) else None
        await self.accept(offered)
        if self.user is None:
            await self.close(code=UNAUTHENTICATED)
            return
        self.start(self._ping())

    async def still_authenticated(self) -> bool:
        """Whether what opened this socket still authenticates (``scope["credential"]``: a key
        not revoked, a token not expired); if not, the socket is closed with 4401. Asked before
        each request a client sends on it."""
        credential = self.scope.get("credential")
        if credential is None:
            return True
        async with ThreadSensitiveContext():  # not queued behind other sockets' database work
            if await sync_to_async(_authenticated)(credential):
                return True
        await self.send_error(
            ErrorCode.AUTHENTICATION_FAILED, "The key or token this socket opened with is no "
            "longer valid (revoked, expired): open it again."
        )  # fmt: skip
        await self.close(code=UNAUTHENTICATED)
        return False

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task:
        """Run ``work`` as a task of this socket: cancelled, and waited for, when it closes."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def disconnect(self, code: int) -> None:
        tasks = list(getattr(self, "tasks", ()))
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        try:
            frame = json_loads(text_data or "")
        except JSONInputError as exc:
            await self.send_error(ErrorCode.VALIDATION_ERROR, "Frames are JSON objects.",
                                  {"frame": [str(exc)]})  # fmt: skip
            return
        if not isinstance(frame, dict):
            await self.send_error(ErrorCode.VALIDATION_ERROR, "Frames are JSON objects.")
            return
        await self.receive_json(frame)

    async def send_error(self, code: str, message: str, details: Any = None, **ids: str) -> None:
        """An error frame in the API's error shape; ``ids`` name what it answers."""
        error = {"type": "error", "code": str(code), "message": message, "details": details or {}}
        await self.send_json(error | ids)

    async def send_failure(self, exc: BaseException, what: str, **ids: str) -> None:
        """The error frame for ``exc``, with the code the HTTP API would answer it with
        (``core.errors.known_error``); an unexpected error is logged as ``what`` failing."""
        if (known := known_error(exc)) is not None:
            await self.send_error(known.code, known.message, known.details, **ids)
        elif isinstance(exc, OperationalError):
            logger.warning("Database unavailable while %s: %s", what, exc)
            await self.send_error(ErrorCode.SERVICE_UNAVAILABLE, DATABASE_BUSY_MESSAGE, **ids)
        else:
            logger.error("%s failed", what, exc_info=exc)
            await self.send_error(ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE, **ids)

    async def send_text(self, text: str) -> None:
        """A frame already encoded as JSON text (the hot path of a streamed answer)."""
        await self.base_send({"type": "websocket.send", "text": text})

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            await self.send_json({"type": "ping"})
