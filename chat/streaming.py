"""The one producer of a chat turn's events, and its two framings (SSE here, WebSocket in
chat.consumers). Events: ``message_start``, ``token``…, then ``message_complete`` or ``error``,
then ``close``. Each carries the ``timestamp`` it was produced at; over SSE each has an ``id``,
and a client that lost the stream resumes it with ``Last-Event-ID`` (``core.sse_resume``).

Whatever happens upstream or to the client, the assistant message is saved: ``complete``,
``error`` with the reason, or ``cancelled`` with the part that had arrived.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import OperationalError

from chat import services
from chat.models import Message
from core.db import release_connections
from core.errors import INTERNAL_ERROR_MESSAGE, ErrorCode
from core.sse import HEARTBEAT, compact_json
from core.sse_resume import StreamRecorder
from llm.services import stream_for_user
from providers.llm import LLMGateway, ProviderError, Usage

logger = logging.getLogger(__name__)
SSE_HEARTBEAT_SECONDS = 15.0
# A JSON string literal, as json.dumps writes one (ASCII, escaped), without its dispatch.
_json_string = json.encoder.encode_basestring_ascii


@dataclass(frozen=True)
class ChatEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)  # when it was produced (Unix time)

    @property
    def timestamp(self) -> str:
        """``at`` as ISO 8601 in UTC, to the millisecond (``2026-01-15T10:35:00.123Z``)."""
        moment = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds")
        return moment.removesuffix("+00:00") + "Z"

    def body(self) -> dict[str, Any]:
        """The data as the framings send it, with the timestamp."""
        return {**self.data, "timestamp": self.timestamp}


Emit = Callable[[ChatEvent], Awaitable[None]]


@dataclass(frozen=True)
class TurnResult:
    answer: Message
    error: ProviderError | None = None


def _usage_body(answer: Message) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "cost_usd": str(answer.cost_usd),
    }


# Plain sync_to_async: the caller's context owns the connection (Django's request cycle for SSE,
# the consumer's turn for WebSockets), and a test's transaction stays.
_finish_once = sync_to_async(services.turn_finish)
_followups = sync_to_async(services.turn_followups)
DB_ATTEMPTS = 3
DB_RETRY_SECONDS = 1.0


def _exchange_save_released(turn: services.PreparedTurn) -> None:
    try:
        services.exchange_save(turn=turn)
    finally:
        release_connections()  # not held while the answer streams


_exchange_save_once = sync_to_async(_exchange_save_released)


async def _retrying(step: Callable[..., Awaitable[Any]], what: str, **fields: Any) -> Any:
    """A database step of a streaming turn, tried again when the database cannot take it (an
    overloaded process waits past ``DATABASE_POOL_TIMEOUT`` for a connection): until it is
    saved, what it saves exists only here."""
    attempt = 1
    while True:
        try:
            return await step(**fields)
        except OperationalError:
            if attempt == DB_ATTEMPTS:
                raise
            logger.warning("Saving %s of %s failed (try %d); trying again",
                           what, fields["turn"].assistant_message_id, attempt)  # fmt: skip
            await asyncio.sleep(DB_RETRY_SECONDS * attempt)
            attempt += 1


async def _finish(**fields: Any) -> Message:
    return await _retrying(_finish_once, "the answer", **fields)


async def _saved(saving: asyncio.Task | None) -> None:
    """Once the exchange is in the database (raises what saving it raised)."""
    if saving is not None:
        await asyncio.shield(saving)


async def _cancelled(turn: services.PreparedTurn, saving: asyncio.Task | None, **fields: Any):
    try:
        await _saved(saving)
    except Exception:
        logger.exception("A cancelled turn's exchange could not be saved")
        return
    await _finish(turn=turn, status=Message.Status.CANCELLED, **fields)


async def run_turn(
    turn: services.PreparedTurn, emit: Emit, *, gateway: LLMGateway | None = None
) -> TurnResult:
    """Stream ``turn`` from its model, emitting events; return the saved assistant message
    and the provider's error when it failed.

    A thread's exchange is saved while the upstream request starts; no token goes out before
    it is saved, and it is saved however the turn ends. Cancelling the task running this
    closes the upstream request and saves the partial answer as ``cancelled`` before the
    cancellation goes on.
    """
    saving = None
    if turn.in_thread:
        saving = asyncio.ensure_future(_retrying(_exchange_save_once, "the question", turn=turn))
    message_id = str(turn.assistant_message_id)
    parts: list[str] = []
    usage: Usage | None = None
    error: ProviderError | None = None
    try:
        await emit(
            ChatEvent(
                "message_start",
                {
                    "message_id": message_id,
                    "user_message_id": turn.user_message_id and str(turn.user_message_id),
                    "thread_id": turn.thread_id and str(turn.thread_id),
                    "model": turn.model.id,
                    "memories_used": turn.memories_used,
                },
            )
        )
        async with stream_for_user(
            resolved=turn.resolved,
            messages=turn.messages,
            temperature=turn.temperature,
            max_tokens=turn.max_answer_tokens,
            options=turn.options,
            gateway=gateway,
        ) as chunks:
            async for chunk in chunks:
                if chunk.final:
                    usage = chunk.usage
                    continue
                if chunk.delta:
                    if not parts:
                        await _saved(saving)
                    parts.append(chunk.delta)
                    await emit(ChatEvent("token", {"message_id": message_id, "token": chunk.delta}))
    except asyncio.CancelledError:
        await asyncio.shield(_cancelled(turn, saving, text="".join(parts), usage=usage))
        raise
    except ProviderError as exc:
        error = exc
        await _saved(saving)
        answer = await _finish(
            turn=turn,
            text="".join(parts),
            usage=usage,
            status=Message.Status.ERROR,
            error=exc.message,
        )
        await emit(
            ChatEvent(
                "error",
                {
                    "message_id": message_id,
                    "code": str(exc.code),
                    "message": exc.message,
                    "details": exc.details,
                },
            )
        )
    else:
        await _saved(saving)
        answer = await _finish(
            turn=turn, text="".join(parts), usage=usage, status=Message.Status.COMPLETE
        )
        await emit(
            ChatEvent(
                "message_complete",
                {"message_id": message_id, "content": answer.content, "usage": _usage_body(answer)},
            )
        )
    # Before ``close``: with a broker this only enqueues; without one (embedded mode) the
    # follow-up work runs here, and the stream stays open (heartbeats) until it is done.
    await _followups(turn=turn, answer=answer)
    await emit(ChatEvent("close", {"message_id": message_id}))
    return TurnResult(answer, error)


def failure_events(turn: services.PreparedTurn, exc: BaseException) -> list[ChatEvent]:
    """A turn broke on our side after its stream started, when no error response can follow:
    the events that end the stream for the client instead of leaving it waiting."""
    logger.error("A chat turn failed mid-stream", exc_info=exc)
    message_id = str(turn.assistant_message_id)
    error = {
        "message_id": message_id,
        "code": str(ErrorCode.INTERNAL_ERROR),
        "message": INTERNAL_ERROR_MESSAGE,
        "details": {},
    }
    return [ChatEvent("error", error), ChatEvent("close", {"message_id": message_id})]


class _Mailbox:
    """Events from the turn's task to the framing: ``put`` never waits, ``take`` returns all
    that came since the last take (an asyncio.Queue costs a future per event)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.waiter: asyncio.Future | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def put_async(self, item: Any) -> None:
        self.put(item)

    async def take(self) -> list[Any]:
        while not self.items:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        items, self.items = self.items, []
        return items


async def events(turn: services.PreparedTurn) -> AsyncIterator[list[ChatEvent] | None]:
    """``run_turn``'s events as an iterator of batches (every event that came since the last
    batch: one while the client keeps up), with ``None`` after each quiet spell of
    ``SSE_HEARTBEAT_SECONDS`` (framings send a heartbeat then).

    The turn runs in its own task so a quiet spell never interrupts it; when the consumer goes
    away, this generator is closed and cancels the turn (which saves what it has). A second
    task watches for quiet spells: a timer per event would cost more than the event.
    """
    loop = asyncio.get_running_loop()
    mailbox = _Mailbox(loop)
    last_sent = [loop.time()]
    done = object()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(max(0.0, last_sent[0] + SSE_HEARTBEAT_SECONDS - loop.time()))
            if loop.time() - last_sent[0] < SSE_HEARTBEAT_SECONDS:
                continue  # an event went out meanwhile
            # Only into an empty mailbox: an event waiting to go out is not a quiet spell, and
            # nothing may follow ``close``.
            if not mailbox.items:
                mailbox.put(None)
            last_sent[0] = loop.time()

    task = asyncio.create_task(run_turn(turn, mailbox.put_async))
    task.add_done_callback(lambda _: mailbox.put(done))
    beat = asyncio.create_task(heartbeat())
    try:
        finished = False
        while not finished:
            batch = []
            for event in await mailbox.take():
                if event is done:
                    finished = True
                elif event is not None:
                    batch.append(event)
            if batch:
                last_sent[0] = loop.time()
                yield batch
            elif not finished:
                yield None
        if not task.cancelled() and task.exception() is not None:
            yield failure_events(turn, task.exception())
    finally:
        beat.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def token_json(event: ChatEvent, **extra: str) -> str:
    """A ``token`` event's data as JSON, with its timestamp and ``extra`` string fields: the one
    frame sent per relayed chunk, written without a dict and an encoder's walk over it."""
    fields = "".join(
        f',"{name}":{_json_string(value)}'
        for name, value in {"timestamp": event.timestamp, **extra}.items()
    )
    data = event.data
    return f'{{"message_id":"{data["message_id"]}","token":{_json_string(data["token"])}{fields}}}'


def sse_data(event: ChatEvent) -> str:
    """An event's SSE ``data`` line: its JSON with the timestamp."""
    return token_json(event) if event.type == "token" else compact_json(event.body())


def ws_frame(event: ChatEvent, client_id: str) -> str:
    """One event in the WebSocket framing: its name as ``type``, and the ``client_id`` of the
    ``chat.send`` it answers."""
    if event.type == "token":
        return '{"type":"token",' + token_json(event, client_id=client_id)[1:]
    return compact_json({"type": event.type, **event.body(), "client_id": client_id})


def stream_owner(turn: services.PreparedTurn) -> dict[str, str]:
    """Who may resume a turn's stream: its user, on its thread's path for its model."""
    return {
        "user_id": str(turn.user_id),
        "thread_id": str(turn.thread_id),
        "model_id": turn.model.id,
    }


async def sse_stream(
    turn: services.PreparedTurn, *, opening: Sequence[ChatEvent] = ()
) -> AsyncIterator[bytes]:
    """The SSE framing: one ``id:``/``event:``/``data:`` frame per event (the frames of a batch
    in one write), a comment when quiet; ``opening`` events go first. Every frame is kept for a
    client resuming the stream; when the client hangs up (which cancels the turn), the kept
    stream ends with ``close`` ``{status: "cancelled"}``, as the turn did."""
    recorder = StreamRecorder(str(turn.assistant_message_id), stream_owner(turn))
    try:
        if opening:
            yield recorder.frames([(event.type, sse_data(event)) for event in opening])
        async for batch in events(turn):
            if batch is None:
                yield HEARTBEAT
                continue
            yield recorder.frames(
                [(event.type, sse_data(event)) for event in batch],
                last=batch[-1].type == "close",
            )
    finally:
        if not recorder.done:
            close = ChatEvent(
                "close", {"message_id": str(turn.assistant_message_id), "status": "cancelled"}
            )
            recorder.frames([("close", sse_data(close))], last=True)


async def collect(turn: services.PreparedTurn) -> TurnResult:
    """Run ``turn`` to its end without streaming."""

    async def discard(event: ChatEvent) -> None:
        return None

    return await run_turn(turn, discard)
