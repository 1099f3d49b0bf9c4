"""Chat over a WebSocket at /ws/chat/: several streams at once on one socket.

Client frames: ``{"type": "chat.send", "thread_id", "model", "content", "temperature"?,
"include_team"?, "client_id"?}`` and ``{"type": "chat.cancel", "message_id", "client_id"?}``.
Server frames carry the SSE event names as ``type`` (``message_start``, ``token``,
``message_complete``, ``error``, ``close``), plus ``{"type": "ping"}`` every 30 s. Database work
runs off the event loop.
"""

import asyncio
import contextlib
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from rest_framework import serializers

from accounts.ratelimit import user_rate_limit
from chat import selectors, services
from chat.api.serializers import temperature_field
from chat.streaming import ChatEvent, failure_events, run_turn, ws_frame
from core.db import release_connections
from core.errors import ErrorCode
from core.websocket import SocketConsumer
from memories.api.serializers import TeamScopeField


class SendFrame(serializers.Serializer):
    thread_id = serializers.CharField(max_length=64)
    model = serializers.CharField(max_length=200)
    # The model's context is the real limit (CONTEXT_TOO_LONG); this only bounds the work.
    content = serializers.CharField(max_length=1_000_000, trim_whitespace=False)
    temperature = temperature_field()
    include_team = TeamScopeField()
    client_id = serializers.CharField(required=False, max_length=128, default="")

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class CancelFrame(serializers.Serializer):
    message_id = serializers.CharField(max_length=64)
    client_id = serializers.CharField(required=False, max_length=128, default="")


class ChatConsumer(SocketConsumer):
    async def connect(self) -> None:
        # Streaming turns by assistant message id: the task and the client_id of its chat.send.
        self.runs: dict[str, tuple[asyncio.Task, str]] = {}
        await super().connect()

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        kind = content.get("type")
        if kind == "chat.send":
            if await self.still_authenticated():
                await self._send_chat(content)
        elif kind == "chat.cancel":
            await self._cancel(content)
        else:
            await self._error(
                ErrorCode.VALIDATION_ERROR,
                "Unknown frame type.",
                {"type": ["Expected 'chat.send' or 'chat.cancel'."]},
            )

    async def _send_chat(self, content: dict[str, Any]) -> None:
        frame = SendFrame(data=content)
        client_id = str(content.get("client_id", ""))[:128]
        if not frame.is_valid():
            await self._error(
                ErrorCode.VALIDATION_ERROR, "The frame is not valid.", frame.errors, client_id
            )
            return
        self.start(self._turn(frame.validated_data, client_id))

    async def _turn(self, data: dict[str, Any], client_id: str) -> None:
        """Prepare and stream one turn. Its database work runs on a thread of its own, not on
        the one thread every socket of the process would otherwise share, and holds a
        connection only while it works: not while the answer streams."""

        async def emit(event: ChatEvent) -> None:
            await self.send_text(ws_frame(event, client_id))

        async with ThreadSensitiveContext():
            try:
                turn = await self._prepare_or_report(data, client_id)
                if turn is None:
                    return
                message_id = str(turn.assistant_message_id)
                self.runs[message_id] = (asyncio.current_task(), client_id)
                try:
                    await run_turn(turn, emit)
                except Exception as exc:
                    for event in failure_events(turn, exc):
                        await emit(event)
                finally:
                    self.runs.pop(message_id, None)
            finally:
                await sync_to_async(release_connections)()

    async def _prepare_or_report(
        self, data: dict[str, Any], client_id: str
    ) -> services.PreparedTurn | None:
        """The prepared turn, or None after telling the client why there is none."""
        try:
            return await sync_to_async(self._prepare)(data)
        except Exception as exc:
            await self.send_failure(
                exc, "Preparing a chat turn", **({"client_id": client_id} if client_id else {})
            )
        return None

    def _prepare(self, data: dict[str, Any]) -> services.PreparedTurn:
        try:
            # A turn over the socket counts against the same limits as an API request.
            user_rate_limit(self.user)
            thread = selectors.thread_get(self.user, data["thread_id"])
            return services.turn_prepare(
                user=self.user,
                thread=thread,
                model_id=data["model"],
                content=data["content"],
                temperature=data["temperature"],
                include_team=data.get("include_team"),
            )
        finally:
            release_connections()  # not held while the answer streams

    async def _cancel(self, content: dict[str, Any]) -> None:
        frame = CancelFrame(data=content)
        message_id = str(content.get("message_id", ""))[:64]
        run = self.runs.get(message_id) if frame.is_valid() else None
        if run is None:
            # The ids the client sent come back, so it can tell which cancel this answers.
            await self._error(
                ErrorCode.NOT_FOUND,
                "No stream with this message id is running.",
                client_id=str(content.get("client_id", ""))[:128],
                message_id=message_id,
            )
            return
        task, client_id = run
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.send_json(
            {
                "type": "close",
                "message_id": message_id,
                "status": "cancelled",
                "client_id": client_id,
            }
        )

    async def _error(
        self, code: str, message: str, details: Any = None, client_id: str = "", **ids: str
    ) -> None:
        """An error frame; ``ids`` (``message_id``) echo what the failed frame named. A frame
        without a client_id gets none back rather than an empty one."""
        await self.send_error(
            code, message, details, **({"client_id": client_id} if client_id else {}), **ids
        )
