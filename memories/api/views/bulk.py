"""Many memories at once: bulk create, export and import (JSON or JSON Lines)."""

import json

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import validated
from core.errors import ValidationFailed
from core.parsers import JSONLinesParser
from memories import selectors, services
from memories.api import serializers as s
from memories.api.views.common import (
    CONFLICT,
    JSONL,
    TAG,
    MemoryView,
    StreamNegotiation,
    items_to_drafts,
)


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
        drafts = items_to_drafts(data["memories"], s.MemoryCreateSerializer)
        results = services.memories_bulk_create(user=request.user, drafts=drafts)
        body = {
            "results": [
                {"index": r.index, "id": r.memory.pk, "created": r.created} for r in results
            ],
            **vars(services.ImportResult.of(results)),
        }
        return Response(s.BulkResultSerializer(body).data, status=201)


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
        drafts = items_to_drafts(request.data, s.MemoryImportLineSerializer)
        result = services.memories_import(user=request.user, drafts=drafts)
        return Response(s.ImportResultSerializer(vars(result)).data)
