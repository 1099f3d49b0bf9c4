"""``/v1/chat/completions`` and ``/v1/models``: point any OpenAI client at Engram and it gets
the user's memories for free. Authenticate with an Engram JWT or API key as the bearer token.
``X-Engram-Thread: <thread id>`` also records the exchange in that thread;
``X-Engram-Include-Team`` chooses the team memories recalled (as chat's ``include_team``)."""

import re

from asgiref.sync import async_to_sync
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import persona_by_name_or_id
from chat import selectors, services, streaming
from chat.api.openai_serializers import (
    PASSED_THROUGH,
    ChatCompletionInput,
    ChatCompletionOutput,
    OpenAIModelListOutput,
)
from chat.openai_format import completion_body, completion_chunks, models_body
from core.api import ApiView, validated
from core.errors import ValidationFailed
from core.sse import STREAM_RENDERERS, event_stream
from llm.selectors import model_listings
from memories.spaces import TEAM_SCOPE_PATTERN

TAG = "openai-compatible"
INCLUDE_TEAM_HEADER = "X-Engram-Include-Team"


class ChatCompletionsView(ApiView):
    scope_family = "chat"
    renderer_classes = STREAM_RENDERERS

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
            OpenApiParameter(
                INCLUDE_TEAM_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                pattern=TEAM_SCOPE_PATTERN,
                description="Team memories recalled beside yours: `all` your teams, `none`, or "
                "`team:<organisation id>`; left out, the teams whose `include_in_search` you "
                "left on.",
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
        include_team = request.headers.get(INCLUDE_TEAM_HEADER)
        if include_team is not None and not re.fullmatch(TEAM_SCOPE_PATTERN, include_team):
            raise ValidationFailed(
                f"{INCLUDE_TEAM_HEADER} is all, none or team:<organisation id>.",
                details={INCLUDE_TEAM_HEADER: ["Not all, none or team:<organisation id>."]},
            )
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
            options={key: data[key] for key in PASSED_THROUGH if data.get(key) is not None},
            thread=thread,
            persona=persona,
            include_team=include_team,
        )
        if data["stream"]:
            include_usage = data.get("stream_options", {}).get("include_usage", False)
            return event_stream(completion_chunks(turn, include_usage))
        result = async_to_sync(streaming.collect)(turn)
        if result.error is not None:
            raise result.error
        return Response(completion_body(turn, result.answer))


class OpenAIModelsView(ApiView):
    scope_family = "chat"

    @extend_schema(
        tags=[TAG], operation_id="openai_models_list", responses={200: OpenAIModelListOutput}
    )
    def get(self, request: Request) -> Response:
        return Response(models_body(model_listings(request.user)))
