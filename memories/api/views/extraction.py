"""Extraction: asking for facts to be extracted from a conversation, and reading a job."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import OwnedObjectView, validated
from memories import extraction
from memories.api import serializers as s
from memories.api.views.common import (
    JOB_ID,
    TAG,
    MemoryView,
)
from memories.models import ExtractionJob


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
