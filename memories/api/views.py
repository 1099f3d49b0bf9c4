"""The memories API: each view validates with a serializer, calls one service or selector, and
serializes the result. Every view is owner-scoped through ``request.user``."""

import json
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView, OwnedObjectView, validated, validated_serializer
from core.errors import NotFound, ValidationFailed
from core.pagination import page_body
from core.parsers import JSONLinesParser
from memories import extraction, selectors, services
from memories.api import serializers as s
from memories.models import ExtractionJob, Memory

TAG = ["memories"]
JSONL = JSONLinesParser.media_type
MEMORY_ID = OpenApiParameter(
    "memory_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The memory's id."
)
# 409, on the operations that answer it; core.schema gives it the error body.
CONFLICT = OpenApiResponse(
    description="Another memory in this scope has the same text (CONFLICT; details.existing_id), "
    "or a concurrent request changed the same memories: retry."
)
JOB_ID = OpenApiParameter(
    "job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id."
)


class StreamNegotiation(BaseContentNegotiation):
    """For views that stream their own body: errors are always rendered as JSON, whatever the
    client accepts, and the stream sets its own Content-Type."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MemoryView(ApiView):
    """Base of every memories view: the API-key scope family, and owner-scoped fetching."""

    scope_family = "memories"


class OwnedMemoryView(OwnedObjectView, MemoryView):
    # One of the user's memories, passed to the handlers as ``memory``.
    owned_kwarg, owned_arg = "memory_id", "memory"

    def owned_queryset(self) -> QuerySet[Memory]:
        return Memory.objects.all()


def _drafts(items: list[Any], serializer_class) -> list[services.MemoryDraft]:
    """Validate every item; errors are reported together, by item index."""
    # One serializer for all items: a new one per item deep-copies its fields, which cost a
    # bulk request more than its database work (bench/README.md, ingest).
    serializer = serializer_class()
    drafts, errors = [], {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(index)] = ["Expected a JSON object."]
            continue
        try:
            drafts.append(services.MemoryDraft(**serializer.run_validation(item)))
        except DRFValidationError as exc:
            errors[str(index)] = exc.detail
    if errors:
        raise ValidationFailed("Some items are not valid.", details={"items": errors})
    return drafts


def _memory_response(memory: Memory, created: bool) -> Response:
    body = {**s.MemorySerializer(memory).data, "folded": not created}
    return Response(body, status=201 if created else 200)


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
        return _memory_response(*services.memory_create(user=request.user, draft=data.to_draft()))

    @extend_schema(
        tags=TAG,
        operation_id="memories_delete_all",
        summary="Delete all of your memories (needs ?confirm=true)",
        parameters=[s.DeleteAllQuerySerializer],
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


class MemoryPromptView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_capture_prompt",
        summary="Capture a prompt before the AI answers",
        request=s.PromptCaptureSerializer,
        responses={201: s.MemorySavedSerializer, 200: s.MemorySavedSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.PromptCaptureSerializer, request.data)
        draft = services.MemoryDraft(**data, source="extension")
        return _memory_response(*services.memory_create(user=request.user, draft=draft))


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


class MemoryBulkView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_bulk_create",
        summary=f"Save up to {services.BULK_MAX_ITEMS} memories in one transaction",
        request=s.MemoryBulkSerializer,
        responses={201: s.BulkResultSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.MemoryBulkSerializer, request.data)
        drafts = _drafts(data["memories"], s.MemoryCreateSerializer)
        results = services.memories_bulk_create(user=request.user, drafts=drafts)
        body = {
            "results": [
                {"index": r.index, "id": r.memory.pk, "created": r.created} for r in results
            ],
            **vars(services.ImportResult.of(results)),
        }
        return Response(s.BulkResultSerializer(body).data, status=201)


class MemorySearchView(MemoryView):
    reading_methods = frozenset({"POST"})

    @extend_schema(
        tags=TAG,
        operation_id="memories_search",
        summary="Search your memories (semantic, keyword or hybrid)",
        request=s.SearchSerializer,
        responses={200: s.SearchResultSerializer},
    )
    def post(self, request: Request) -> Response:
        search = validated_serializer(s.SearchSerializer, request.data)
        data = search.validated_data
        outcome = selectors.memories_search(
            user=request.user,
            query=data["query"],
            mode=data["mode"],
            top_k=data["top_k"],
            threshold=data.get("threshold"),
            min_score=data.get("min_score"),
            filters=search.to_filters(),
            importance_boost=data["importance_boost"],
            recency_boost=data["recency_boost"],
        )
        for hit in outcome.hits:
            memory = hit.memory
            memory.score, memory.highlights = hit.score, hit.highlights
            memory.semantic_score, memory.keyword_score = hit.semantic_score, hit.keyword_score
        body = {
            "results": s.SearchHitSerializer([hit.memory for hit in outcome.hits], many=True).data,
            "took_ms": outcome.took_ms,
            "mode": outcome.mode,
        }
        return Response(body)


class MemoryExportView(MemoryView):
    content_negotiation_class = StreamNegotiation

    @extend_schema(
        tags=TAG,
        operation_id="memories_export",
        summary="Export your memories as JSON Lines (one memory per line, oldest first)",
        responses={
            (200, JSONL): OpenApiResponse(
                OpenApiTypes.STR, description="One JSON object per line, as in GET /memories."
            )
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        lines = (
            json.dumps(s.MemorySerializer(memory).data, default=str) + "\n"
            for memory in selectors.memories_export(user=request.user)
        )
        response = StreamingHttpResponse(lines, content_type=JSONL)
        response["Content-Disposition"] = 'attachment; filename="memories.jsonl"'
        return response


class MemoryImportView(MemoryView):
    parser_classes = [JSONLinesParser]

    @extend_schema(
        tags=TAG,
        operation_id="memories_import",
        summary="Import a JSON Lines export (the same text in the same scope folds)",
        request={JSONL: OpenApiTypes.STR},
        responses={200: s.ImportResultSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, list) or not request.data:
            raise ValidationFailed(
                "Send a JSON Lines file (Content-Type: application/x-ndjson), one memory a line.",
                details={"body": ["No memories in the body."]},
            )
        drafts = _drafts(request.data, s.MemoryImportLineSerializer)
        result = services.memories_import(user=request.user, drafts=drafts)
        return Response(s.ImportResultSerializer(vars(result)).data)


class MemoryStatsView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_stats",
        summary="Counts and storage of your memories",
        responses={200: s.StatsSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(s.StatsSerializer(selectors.memory_stats(user=request.user)).data)


class MemorySummaryView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_summary",
        summary="A short profile of what your memories are about",
        description="Recomputed in the background after each change (`stale` until then); "
        "before the first one is stored, computed for this answer.",
        responses={200: s.SummarySerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(s.SummarySerializer(services.summary_current(user=request.user)).data)


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


class MemoryExtractView(MemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="memories_extract",
        summary="Extract facts from a conversation into your memories (a background job)",
        description="Answers 202 with the queued job; `GET /api/v1/jobs/{id}` reports its "
        "status and, when done, the operations applied (ADD, UPDATE, DELETE, NONE per fact). "
        "503 PROVIDER_UNAVAILABLE when no language model is available to you for extraction.",
        request=s.ExtractSerializer,
        responses={202: s.ExtractionJobSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ExtractSerializer, request.data)
        job = extraction.extraction_job_create(
            user=request.user,
            messages=data["messages"],
            agent_id=data.get("agent_id", ""),
            session_id=data.get("session_id", ""),
            metadata=data.get("metadata"),
        )
        return Response(s.ExtractionJobSerializer(job).data, status=202)


class ExtractionJobView(OwnedObjectView, MemoryView):
    owned_kwarg, owned_arg = "job_id", "job"

    def owned_queryset(self) -> QuerySet[ExtractionJob]:
        return ExtractionJob.objects.all()

    @extend_schema(
        tags=TAG,
        operation_id="jobs_retrieve",
        summary="An extraction job: status, timing, operations applied, error",
        parameters=[JOB_ID],
        responses={200: s.ExtractionJobSerializer},
    )
    def get(self, request: Request, job: ExtractionJob) -> Response:
        return Response(s.ExtractionJobSerializer(job).data)
