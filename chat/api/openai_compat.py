"""``/v1/chat/completions`` and ``/v1/models``: point any OpenAI client at Engram and it gets
the user's memories for free. Authenticate with an Engram JWT or API key as the bearer token.
``X-Engram-Thread: <thread id>`` also records the exchange in that thread."""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import async_to_sync
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import persona_by_name_or_id
from chat import selectors, services, streaming
from chat.streaming import ChatEvent
from core.api import ApiView, InputSerializer, validated
from core.errors import ValidationFailed
from core.sse import HEARTBEAT, event_stream
from llm.selectors import model_listings

TAG = "openai-compatible"
PASSED_THROUGH = (
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
)
ROLES = ("system", "developer", "user", "assistant", "tool")


class ChatMessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.JSONField(help_text="A string, or a list of content parts.")
    name = serializers.CharField(required=False, max_length=64)

    def validate_content(self, value: Any) -> Any:
        if value is None or isinstance(value, str | list):
            return value
        raise serializers.ValidationError("Expected a string or a list of content parts.")


class StreamOptionsInput(serializers.Serializer):
    include_usage = serializers.BooleanField(default=False)


class ChatCompletionInput(InputSerializer):
    model = serializers.CharField(max_length=200)
    messages = ChatMessageInput(many=True, allow_empty=False)
    n = serializers.IntegerField(
        default=1, help_text="How many choices to generate: Engram answers exactly one."
    )
    stream = serializers.BooleanField(default=False)
    stream_options = StreamOptionsInput(required=False)
    temperature = serializers.FloatField(required=False, allow_null=True, default=None)
    max_tokens = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    stop = serializers.JSONField(required=False)
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    seed = serializers.IntegerField(required=False)
    response_format = serializers.JSONField(required=False)


class ChoiceMessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChoiceMessageOutput()
    finish_reason = serializers.CharField(allow_null=True)


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceOutput(many=True)
    usage = UsageOutput()


class OpenAIModelOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class OpenAIModelListOutput(serializers.Serializer):
    object = serializers.CharField()
    data = OpenAIModelOutput(many=True)


def _completion_id(turn: services.PreparedTurn) -> str:
    return f"chatcmpl-{turn.assistant_message_id.hex}"


def _chunk(turn: services.PreparedTurn, created: int, **fields: Any) -> bytes:
    body = {
        "id": _completion_id(turn),
        "object": "chat.completion.chunk",
        "created": created,
        "model": turn.model.id,
        **fields,
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def _usage(event: ChatEvent) -> dict[str, int]:
    usage = event.data["usage"]
    return {key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")}


async def openai_chunks(turn: services.PreparedTurn, include_usage: bool) -> AsyncIterator[bytes]:
    """The turn's events in OpenAI's chunk format, ending with ``data: [DONE]``."""
    created = int(time.time())
    async for event in streaming.events(turn):
        if event is None:
            yield HEARTBEAT
        elif event.type == "message_start":
            delta = {"role": "assistant", "content": ""}
            yield _chunk(turn, created, choices=[{"index": 0, "delta": delta}])
        elif event.type == "token":
            delta = {"content": event.data["token"]}
            yield _chunk(turn, created, choices=[{"index": 0, "delta": delta}])
        elif event.type == "message_complete":
            done = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield _chunk(turn, created, choices=[done])
            if include_usage:
                yield _chunk(turn, created, choices=[], usage=_usage(event))
        elif event.type == "error":
            error = {key: event.data[key] for key in ("code", "message", "details")}
            yield f"data: {json.dumps({'error': error})}\n\n".encode()
    yield b"data: [DONE]\n\n"


class ChatCompletionsView(ApiView):
    scope_family = "chat"

    @extend_schema(
        tags=[TAG],
        operation_id="openai_chat_completions",
        parameters=[
            OpenApiParameter(
                "X-Engram-Thread",
                OpenApiTypes.UUID,
                OpenApiParameter.HEADER,
                description="Record the exchange in this thread of yours.",
            ),
            OpenApiParameter(
                "X-Engram-Persona",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Speak as this persona of yours (id or name): its prompt first, "
                "its temperature unless the request sets one.",
            ),
        ],
        request=ChatCompletionInput,
        responses={
            200: ChatCompletionOutput,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="With `stream: true`: OpenAI `chat.completion.chunk` events, "
                "then `data: [DONE]`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        thread_id = request.headers.get("X-Engram-Thread")
        thread = selectors.thread_get(request.user, thread_id) if thread_id else None
        persona_ref = request.headers.get("X-Engram-Persona")
        persona = persona_by_name_or_id(request.user, persona_ref) if persona_ref else None
        data = validated(ChatCompletionInput, request.data)
        if data["n"] != 1:
            # Accepted and ignored, a client asking for several choices would pay for one and
            # wait for the others forever; refused, its SDK shows why.
            raise ValidationFailed(
                f"n={data['n']} is not supported: Engram answers with exactly one choice (n=1).",
                details={"n": ["Must be 1."]},
            )
        turn = services.completion_prepare(
            user=request.user,
            model_id=data["model"],
            messages=[dict(message) for message in data["messages"]],
            temperature=data["temperature"],
            max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
            options={key: data[key] for key in PASSED_THROUGH if key in data},
            thread=thread,
            persona=persona,
        )
        if data["stream"]:
            include_usage = data.get("stream_options", {}).get("include_usage", False)
            return event_stream(openai_chunks(turn, include_usage))
        result = async_to_sync(streaming.collect)(turn)
        if result.error is not None:
            raise result.error
        answer = result.answer
        return Response(
            {
                "id": _completion_id(turn),
                "object": "chat.completion",
                "created": int(answer.created_at.timestamp())
                if answer.created_at
                else int(time.time()),
                "model": turn.model.id,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                },
                "engram": {"memories_used": turn.memories_used},
            }
        )


class OpenAIModelsView(ApiView):
    scope_family = "chat"

    @extend_schema(
        tags=[TAG], operation_id="openai_models_list", responses={200: OpenAIModelListOutput}
    )
    def get(self, request: Request) -> Response:
        models = [
            {
                "id": listing.model.id,
                "object": "model",
                "created": 0,
                "owned_by": listing.model.provider,
            }
            for listing in model_listings(request.user)
            if listing.availability.available
        ]
        return Response({"object": "list", "data": models})
