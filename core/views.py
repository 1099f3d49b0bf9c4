"""Service-level endpoints (what this is, health, version) and the JSON answers for Django's own
errors."""

import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import health
from core.errors import INTERNAL_ERROR_MESSAGE, ErrorCode, error_response
from core.metrics import PROCESS_STARTED


class LivenessSerializer(serializers.Serializer):
    status = serializers.CharField()
    version = serializers.CharField()


class CheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "fail"])
    latency_ms = serializers.FloatField()
    detail = serializers.CharField(required=False)


class ProviderReachabilitySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["reachable", "unreachable"])
    latency_ms = serializers.FloatField()
    checked_at = serializers.DateTimeField()


class IndexCountsSerializer(serializers.Serializer):
    valid = serializers.IntegerField()
    not_valid = serializers.IntegerField(help_text="Being built, or a build that failed.")


class ReadinessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    version = serializers.CharField()
    commit = serializers.CharField()
    environment = serializers.CharField()
    uptime_seconds = serializers.FloatField()
    checks = serializers.DictField(child=CheckSerializer())
    providers = serializers.DictField(child=ProviderReachabilitySerializer())
    indexes = serializers.DictField(
        child=IndexCountsSerializer(),
        allow_null=True,
        help_text="Per-user vector indexes by kind (memories_hnsw, backups_hnsw); null when "
        "the database does not answer.",
    )


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    commit = serializers.CharField()
    environment = serializers.CharField()


class RootSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    links = serializers.DictField(child=serializers.CharField())


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class LivenessView(PublicView):
    """The process is up, and which version it runs; touches no dependency."""

    @extend_schema(tags=["service"], responses={200: LivenessSerializer})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "version": settings.ENGRAM_VERSION})


class ReadinessView(PublicView):
    """Every dependency this configuration uses answers: 200, else 503 naming the failing check.

    Also says what runs (version, commit, uptime), whether each configured LLM provider is
    reachable (cached; an unreachable provider does not make the service unready), and how
    many per-user vector indexes of each kind are valid (one not valid yet does not either).
    """

    @extend_schema(tags=["service"], responses={200: ReadinessSerializer, 503: ReadinessSerializer})
    def get(self, request: Request) -> Response:
        results = health.readiness()
        ready = all(result.ok for result in results)
        body = {
            "status": "ok" if ready else "unavailable",
            "version": settings.ENGRAM_VERSION,
            "commit": settings.ENGRAM_COMMIT,
            "environment": settings.ENVIRONMENT,
            "uptime_seconds": round(time.time() - PROCESS_STARTED, 1),
            "checks": {result.name: result.as_dict() for result in results},
            "providers": health.provider_reachability(),
            "indexes": health.index_status(),
        }
        return Response(body, status=200 if ready else 503)


class RootView(PublicView):
    """What this server is and where its doors are: JSON for a client, a page for a browser
    (whose ``Accept`` asks for HTML first)."""

    renderer_classes = [JSONRenderer, TemplateHTMLRenderer]
    template_name = "root.html"

    @extend_schema(tags=["service"], responses={200: RootSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "Engram",
                "version": settings.ENGRAM_VERSION,
                "links": {
                    "api_docs": "/api/docs/",
                    "openapi_schema": "/api/schema/",
                    "readiness": "/health/ready",
                    "operator_console": "/admin/",
                    "mcp": "/mcp",
                    "openai_compatible": "/v1",
                    "mem0_compatible": "/mem0/",
                },
            }
        )


class VersionView(PublicView):
    @extend_schema(tags=["service"], responses={200: VersionSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": settings.ENGRAM_VERSION,
                "commit": settings.ENGRAM_COMMIT,
                "environment": settings.ENVIRONMENT,
            }
        )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(400, ErrorCode.VALIDATION_ERROR, "The request is not valid.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(
        403, ErrorCode.PERMISSION_DENIED, "You do not have permission to do this."
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, ErrorCode.NOT_FOUND, "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(500, ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE)
