"""One memory: create, list, read, update, delete, its prompt/response capture, history and
revert."""

import re
import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import validated, validated_serializer
from core.errors import NotFound, ValidationFailed
from core.pagination import page_body
from memories import selectors, services
from memories.api import serializers as s
from memories.api.views.common import (
    CONFLICT,
    MEMORY_ID,
    TAG,
    MemoryView,
    OwnedMemoryView,
    memory_response,
)
from memories.models import Memory


class MemoryCollectionView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_list",
        summary="List memories, newest first",
        parameters=[s.MemoryListQuerySerializer],
        responses={200: s.MemoryPageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated_serializer(s.MemoryListQuerySerializer, request.query_params)
        page = selectors.memory_page(
            user=request.user,
            filters=query.to_filters(),
            cursor=query.validated_data.get("cursor") or None,
            limit=query.validated_data["limit"],
        )
        return Response(page_body(page, s.MemorySerializer))

    @extend_schema(
        tags=TAG,
        operation_id="memories_create",
        summary="Save a memory (the same text in the same scope: the existing one, 200, folded)",
        request=s.MemoryCreateSerializer,
        responses={201: s.MemorySavedSerializer, 200: s.MemorySavedSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated_serializer(s.MemoryCreateSerializer, request.data)
        return memory_response(*services.memory_create(user=request.user, draft=data.to_draft()))

    @extend_schema(
        tags=TAG,
        operation_id="memories_delete_all",
        summary="Delete all of your memories (needs ?confirm=true)",
        # Required here, but not in the serializer: the view's refusal says how to confirm.
        parameters=[
            s.DeleteAllQuerySerializer,
            OpenApiParameter("confirm", str, required=True, enum=["true"]),
        ],
        responses={200: s.DeleteAllResultSerializer},
    )
    def delete(self, request: Request) -> Response:
        query = validated(s.DeleteAllQuerySerializer, request.query_params)
        if query.get("confirm") != "true":
            raise ValidationFailed(
                "This deletes every memory you have. Repeat the request with ?confirm=true.",
                details={"confirm": ["Must be true to delete all memories."]},
            )
        return Response({"deleted": services.memories_delete_all(user=request.user)})


# Printable ASCII, as HTTP carries it; a UUID fits with room to spare.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="A key of the client's choosing (a UUID) per capture: the same key again "
    "answers 200 with the memory the first request made, and stores nothing more. The same key "
    "with another capture is a 409 (IDEMPOTENCY_KEY_REUSED).",
)
KEY_REUSED = OpenApiResponse(
    description="The Idempotency-Key came before with another capture (IDEMPOTENCY_KEY_REUSED); "
    "nothing was stored."
)


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValidationFailed(
            details={"Idempotency-Key": ["1 to 255 printable ASCII characters, no spaces."]}
        )
    return key


class MemoryPromptView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_capture_prompt",
        summary="Capture a prompt before the AI answers",
        parameters=[IDEMPOTENCY_KEY],
        request=s.PromptCaptureSerializer,
        responses={201: s.MemorySavedSerializer, 200: s.MemorySavedSerializer, 409: KEY_REUSED},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(s.PromptCaptureSerializer, request.data)
        draft = services.MemoryDraft(**data, source="extension")
        return memory_response(
            *services.memory_capture(user=request.user, draft=draft, idempotency_key=key)
        )


class MemoryResponseView(OwnedMemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_save_response",
        summary="Complete a captured prompt with the AI's response",
        parameters=[MEMORY_ID],
        request=s.ResponseSaveSerializer,
        responses={200: s.MemorySerializer, 409: CONFLICT},
    )
    def post(self, request: Request, memory: Memory) -> Response:
        data = validated(s.ResponseSaveSerializer, request.data)
        memory = services.memory_response_save(memory=memory, response=data["response"])
        return Response(s.MemorySerializer(memory).data)


class MemoryDetailView(OwnedMemoryView):
    # Set when a GET asked for an id that was merged into the memory it answers with.
    merged_into: uuid.UUID | None = None

    def owned_resolve(self, request: Request, pk: Any) -> Memory:
        try:
            return super().owned_resolve(request, pk)
        except NotFound:
            if request.method != "GET":
                raise
            survivor = selectors.memory_merged_survivor(user=request.user, memory_id=pk)
            if survivor is None:
                raise
            self.merged_into = survivor.pk
            return survivor

    @extend_schema(
        tags=TAG,
        operation_id="memories_retrieve",
        summary="One memory (an id merged into another: that memory, with merged_into)",
        parameters=[MEMORY_ID],
        responses=s.MemoryDetailSerializer,
    )
    def get(self, request: Request, memory: Memory) -> Response:
        return Response({**s.MemorySerializer(memory).data, "merged_into": self.merged_into})

    @extend_schema(
        tags=TAG,
        operation_id="memories_update",
        summary="Change a memory (a content change re-embeds it)",
        parameters=[MEMORY_ID],
        request=s.MemoryUpdateSerializer,
        responses={200: s.MemorySerializer, 409: CONFLICT},
    )
    def patch(self, request: Request, memory: Memory) -> Response:
        changes = validated(s.MemoryUpdateSerializer, request.data)
        memory = services.memory_update(memory=memory, changes=dict(changes))
        return Response(s.MemorySerializer(memory).data)

    @extend_schema(
        tags=TAG,
        operation_id="memories_destroy",
        summary="Delete a memory",
        parameters=[MEMORY_ID],
        responses={204: None},
    )
    def delete(self, request: Request, memory: Memory) -> Response:
        services.memory_delete(memory=memory)
        return Response(status=204)


class MemoryHistoryView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_history",
        summary="Every create, update and delete of a memory, oldest first",
        parameters=[MEMORY_ID, s.HistoryQuerySerializer],
        responses={200: s.HistoryPageSerializer},
    )
    def get(self, request: Request, memory_id: str) -> Response:
        query = validated(s.HistoryQuerySerializer, request.query_params)
        page = selectors.memory_history_page(
            user=request.user,
            memory_id=memory_id,
            cursor=query.get("cursor") or None,
            limit=query["limit"],
        )
        return Response(page_body(page, s.HistorySerializer))


class MemoryRevertView(OwnedMemoryView):
    owned_arg = "known_id"

    def owned_resolve(self, request: Request, pk: Any) -> uuid.UUID:
        # Deleted memories can be reverted too: ownership is checked on the history.
        return selectors.memory_known(user=request.user, memory_id=pk)

    @extend_schema(
        tags=TAG,
        operation_id="memories_revert",
        summary="Restore a memory to the content of one of its history entries",
        description="The memory gets the text the entry recorded (the text right after that "
        "change), as a new `revert` entry of its history. A memory deleted or merged away since "
        "is recreated with its id. 409 CONFLICT when another memory of its scope has that text.",
        parameters=[MEMORY_ID],
        request=s.RevertSerializer,
        responses={200: s.MemorySerializer, 409: CONFLICT},
    )
    def post(self, request: Request, known_id: uuid.UUID) -> Response:
        data = validated(s.RevertSerializer, request.data)
        memory = services.memory_revert(
            user=request.user, memory_id=known_id, history_id=data["history_id"]
        )
        return Response(s.MemorySerializer(memory).data)
