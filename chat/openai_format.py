"""A turn in OpenAI's chat-completions wire format: the body of a whole answer, the chunks of a
streamed one, and the model list. Pure functions of what the turn produced; the endpoint in
chat/api/openai_compat.py only validates, prepares the turn and returns these."""

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from chat.models import Message
from chat.services.turns import PreparedTurn
from chat.streaming import ChatEvent, events
from core.sse import HEARTBEAT, compact_json
from llm.selectors import ModelListing

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def completion_id(turn: PreparedTurn) -> str:
    return f"chatcmpl-{turn.assistant_message_id.hex}"


def usage_body(answer: Message) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def completion_body(turn: PreparedTurn, answer: Message) -> dict[str, Any]:
    """The ``chat.completion`` object of a whole answer, with the memories Engram added."""
    created = answer.created_at.timestamp() if answer.created_at else time.time()
    return {
        "id": completion_id(turn),
        "object": "chat.completion",
        "created": int(created),
        "model": turn.model.id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_body(answer),
        "engram": {"memories_used": turn.memories_used},
    }


def models_body(listings: Iterable[ModelListing]) -> dict[str, Any]:
    """The ``/v1/models`` list: the models the user can use now."""
    models = [
        {
            "id": listing.model.id,
            "object": "model",
            "created": 0,
            "owned_by": listing.model.provider,
        }
        for listing in listings
        if listing.availability.available
    ]
    return {"object": "list", "data": models}


def _chunk(turn: PreparedTurn, created: int, **fields: Any) -> bytes:
    body = {
        "id": completion_id(turn),
        "object": "chat.completion.chunk",
        "created": created,
        "model": turn.model.id,
        **fields,
    }
    return f"data: {compact_json(body)}\n\n".encode()


def _frames(turn: PreparedTurn, created: int, event: ChatEvent, include_usage: bool) -> bytes:
    if event.type == "message_start":
        delta = {"role": "assistant", "content": ""}
        return _chunk(turn, created, choices=[{"index": 0, "delta": delta}])
    if event.type == "token":
        delta = {"content": event.data["token"]}
        return _chunk(turn, created, choices=[{"index": 0, "delta": delta}])
    if event.type == "message_complete":
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        frames = _chunk(turn, created, choices=[done])
        if include_usage:
            usage = event.data["usage"]
            usage = {
                key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")
            }
            frames += _chunk(turn, created, choices=[], usage=usage)
        return frames
    if event.type == "error":
        error = {key: event.data[key] for key in ("code", "message", "details")}
        return f"data: {compact_json({'error': error})}\n\n".encode()
    return b""


async def completion_chunks(turn: PreparedTurn, include_usage: bool) -> AsyncIterator[bytes]:
    """The turn's events as ``chat.completion.chunk`` frames, ending with ``data: [DONE]``."""
    created = int(time.time())
    async for batch in events(turn):
        if batch is None:
            yield HEARTBEAT
        elif frames := b"".join(_frames(turn, created, event, include_usage) for event in batch):
            yield frames
    yield b"data: [DONE]\n\n"
