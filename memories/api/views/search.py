"""Reads across a user's memories: search, stats and the summary."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import api_key_secret
from core.api import validated_serializer
from memories import selectors, services
from memories.api import prefetch
from memories.api import serializers as s
from memories.api.views.common import (
    TAG,
    MemoryView,
)
from memories.spaces import memories_search_scoped

# Built once: making a serializer deep-copies its declared fields, a fifth of a repeated search's
# time; representing a hit keeps no state in it.
_SEARCH_HIT = s.SearchHitSerializer()


class MemorySearchView(MemoryView):
    reading_methods = frozenset({"POST"})

    @extend_schema(
        tags=TAG,
        operation_id="memories_search",
        summary="Search your memories and your teams' (semantic, keyword or hybrid)",
        request=s.SearchSerializer,
        responses={200: s.SearchResultSerializer},
    )
    def post(self, request: Request) -> Response:
        search = validated_serializer(s.SearchSerializer, request.data)
        data = search.validated_data
        outcome = memories_search_scoped(
            user=request.user,
            query=data["query"],
            include_team=data.get("include_team"),
            mode=data["mode"],
            top_k=data["top_k"],
            threshold=data.get("threshold"),
            min_score=data.get("min_score"),
            filters=search.to_filters(),
            importance_boost=data["importance_boost"],
            recency_boost=data["recency_boost"],
        )
        body = {
            "results": [_SEARCH_HIT.to_representation(scoped) for scoped in outcome.hits],
            "took_ms": outcome.took_ms,
            "mode": outcome.mode,
        }
        # The search's own time and which index answered it ("exact", "hnsw", "resident"...):
        # for a browser's developer tools, and for bench/search_http.py.
        timing = f'search;dur={outcome.took_ms};desc="{outcome.vector_path}"'
        return Response(body, headers={"Server-Timing": timing})

    def finalize_response(self, request: Request, response, *args, **kwargs):
        # Whether this caller's next search may start its embedding before it is authenticated.
        headers = request.headers
        secret = api_key_secret(headers.get("X-API-Key"), headers.get("Authorization"))
        prefetch.search_answered(secret, response)
        return super().finalize_response(request, response, *args, **kwargs)


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
