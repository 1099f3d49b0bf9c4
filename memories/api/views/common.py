"""What every memories view shares: the base views, the OpenAPI parameters and responses, the
stream negotiation of exports, and turning validated items into drafts."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from core.api import ApiView, OwnedObjectView, json_type_errors
from core.errors import ValidationFailed
from core.parsers import JSONLinesParser
from memories import services
from memories.api import serializers as s
from memories.models import Memory

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


def items_to_drafts(items: list[Any], serializer_class) -> list[services.MemoryDraft]:
    """Validate every item; errors are reported together, by item index."""
    # One serializer for all items: a new one per item deep-copies its fields, which cost a
    # bulk request more than its database work (bench/README.md, ingest).
    serializer = serializer_class()
    drafts: dict[str, services.MemoryDraft] = {}
    errors: dict[str, Any] = {}
    for number, item in enumerate(items):
        index = str(number)
        if not isinstance(item, dict):
            errors[index] = ["Expected a JSON object."]
        elif type_errors := json_type_errors(serializer, item):
            errors[index] = type_errors
        else:
            try:
                drafts[index] = services.MemoryDraft(**serializer.run_validation(item))
            except DRFValidationError as exc:
                errors[index] = exc.detail
    if errors:
        # Every item's problems at once: for the items whose fields are fine, the rules the
        # service would check next (a memory needs text), which came only after these.
        for index, draft in drafts.items():
            if problems := services.draft_problems(draft):
                errors[index] = problems
        raise ValidationFailed("Some items are not valid.", details={"items": errors})
    return list(drafts.values())


def memory_response(memory: Memory, created: bool) -> Response:
    body = {**s.MemorySerializer(memory).data, "folded": not created}
    return Response(body, status=201 if created else 200)
