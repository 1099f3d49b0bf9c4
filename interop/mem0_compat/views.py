"""mem0's platform API under /mem0/, for mem0ai's MemoryClient and AsyncMemoryClient as they are
(``MemoryClient(api_key="egm_…", host="http://HOST:PORT/mem0")``). Paths, payloads and answers
follow mem0ai 2.2's client; errors keep Engram's error shape (the client raises on the status).
"""

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import JWTAuthentication
from accounts.models import ApiScope
from core.api import validated
from core.errors import ValidationFailed
from interop.mem0_compat import serializers as s
from interop.mem0_compat import services
from interop.mem0_compat.authentication import Mem0TokenAuthentication, mem0_key_secret
from interop.mem0_compat.mapping import (
    Entities,
    entities_from,
    entity_ids,
    filters_from,
    memory_body,
)
from interop.mem0_compat.selectors import mem0_entities, mem0_memories, mem0_search
from memories.api import prefetch
from memories.models import ExtractionJob, HistoryEvent, JobStatus, MemoryHistory
from memories.selectors import extraction_job_get, memory_get, memory_history_page

TAG = ["mem0 compatibility"]
MEMORY_ID = OpenApiParameter("memory_id", str, OpenApiParameter.PATH)
EVENT_STATUS = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.SUCCEEDED: "SUCCEEDED",
    JobStatus.FAILED: "FAILED",
}
# Engram's history events as mem0 names them; a merge or revert changed or removed the memory.
HISTORY_EVENTS = {HistoryEvent.CREATE: "ADD", HistoryEvent.DELETE: "DELETE"}


def mem0_schema(operation: str, **details: Any):
    """The OpenAPI description of a mem0 endpoint: under its tag, as operation ``mem0_<name>``."""
    return extend_schema(tags=TAG, operation_id=f"mem0_{operation}", **details)


class Mem0View(APIView):
    authentication_classes = [Mem0TokenAuthentication, JWTAuthentication]
    scope_family = "memories"


class Mem0ReadView(Mem0View):
    """mem0 reads by POST (search, lists): they need ``memories:read``, not write."""

    scope_family = ApiScope.MEMORIES_READ


def _entities(data: dict[str, Any]) -> Entities:
    """Entity ids at the top level, else in ``filters`` (mem0ai sends either)."""
    top = entities_from(data)
    return top if top.any() else entities_from(data.get("filters") or {})


def _event_results(job: ExtractionJob) -> list[dict[str, Any]]:
    return [
        {
            "id": operation["memory_id"],
            "event": operation["event"],
            "memory": operation["text"] or operation["previous_text"] or "",
        }
        for operation in job.operations
        if operation["applied"]
    ]


def _event_status(job: ExtractionJob) -> str:
    return EVENT_STATUS[job.status]


class PingView(Mem0View):
    @mem0_schema("ping", responses={200: s.Mem0PingSerializer})
    def get(self, request: Request) -> Response:
        # The client wants an organisation and a project: the key owner's account is both.
        account = str(request.user.pk)
        body = {"status": "ok", "message": "Engram", "org_id": account, "project_id": account}
        return Response({**body, "user_email": request.user.email})


class AddView(Mem0View):
    @mem0_schema(
        "add",
        summary="Add memories (infer: an extraction job; otherwise, or without a language "
        "model for it, each message as it is)",
        request=s.Mem0AddSerializer,
        responses={200: s.Mem0AddResultSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.Mem0AddSerializer, request.data)
        stamp = data.get("timestamp")
        outcome = services.mem0_add(
            user=request.user,
            messages=data["messages"],
            entities=_entities(request.data),
            metadata=data["metadata"],
            infer=data["infer"],
            created_at=datetime.fromtimestamp(stamp, UTC) if stamp is not None else None,
        )
        if outcome.job is not None:
            job = extraction_job_get(user=request.user, job_id=outcome.job.pk)
            body = {
                "message": "Memory processing has been queued for background execution",
                "status": _event_status(job),
                "event_id": str(job.pk),
                "results": _event_results(job),
                "inferred": True,
            }
        else:
            results = [
                {"id": str(item.memory.pk), "event": "ADD", "memory": item.memory.content}
                for item in outcome.stored
                if item.created
            ]
            body = {
                "message": "Memories stored",
                "status": "SUCCEEDED",
                "event_id": None,
                "results": results,
                "inferred": False,
            }
            if outcome.not_inferred_because:
                body["message"] = "No language model to infer with: messages stored as they are"
                body["reason"] = outcome.not_inferred_because
        return Response(body)


class EventView(Mem0View):
    @mem0_schema(
        "event",
        summary="The state of an add with infer (an Engram extraction job)",
        parameters=[OpenApiParameter("event_id", str, OpenApiParameter.PATH)],
        responses={200: s.Mem0EventSerializer},
    )
    def get(self, request: Request, event_id: str) -> Response:
        job = extraction_job_get(user=request.user, job_id=event_id)
        return Response(
            {
                "id": str(job.pk),
                "event_type": "ADD",
                "status": _event_status(job),
                "results": _event_results(job),
                "error": job.error or None,
                "created_at": job.created_at,
                "started_at": job.started_at,
                "completed_at": job.finished_at,
                "latency": job.duration_ms,
            }
        )


class SearchView(Mem0ReadView):
    @mem0_schema(
        "search",
        summary="Search (score: cosine similarity; threshold: its minimum)",
        request=s.Mem0SearchSerializer,
        responses={200: s.Mem0SearchResultSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.Mem0SearchSerializer, request.data)
        hits = mem0_search(
            user=request.user,
            query=data["query"],
            alternatives=filters_from(data["filters"], entities=entities_from(request.data)),
            top_k=data["top_k"],
            threshold=data.get("threshold"),
            mode="hybrid" if data["keyword_search"] else "semantic",
            include_team=data.get("include_team"),
        )
        return Response({"results": [memory_body(hit.memory, score=hit.score) for hit in hits]})

    def finalize_response(self, request: Request, response, *args, **kwargs):
        # Whether this client's next search may start its embedding before it is authenticated.
        headers = request.headers
        secret = mem0_key_secret(headers.get("X-API-Key"), headers.get("Authorization"))
        prefetch.search_answered(secret, response)
        return super().finalize_response(request, response, *args, **kwargs)


def _page_url(request: Request, page: int) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _page_body(
    request: Request, results: list[Any], *, count: int, number: int = 1, size: int | None = None
) -> dict[str, Any]:
    """mem0's page: ``results`` of page ``number`` (of ``size``; by default one page of all
    ``count``) and the URLs of the pages either side of it."""
    size = count if size is None else size
    start = (number - 1) * size
    return {
        "count": count,
        "next": _page_url(request, number + 1) if start + size < count else None,
        "previous": _page_url(request, number - 1) if number > 1 else None,
        "results": results,
    }


class ListView(Mem0ReadView):
    @mem0_schema(
        "get_all",
        summary="List memories matching filters, newest first, by page",
        parameters=[s.Mem0PageQuerySerializer],
        request=s.Mem0ListSerializer,
        responses={200: s.Mem0MemoryPageSerializer},
    )
    def post(self, request: Request) -> Response:
        page = validated(s.Mem0PageQuerySerializer, request.query_params)
        data = validated(s.Mem0ListSerializer, request.data)
        memories = mem0_memories(
            user=request.user,
            alternatives=filters_from(data["filters"], entities=entities_from(request.data)),
        )
        number, size = page["page"], page["page_size"]
        start = (number - 1) * size
        results = [memory_body(memory) for memory in memories[start : start + size]]
        return Response(
            _page_body(request, results, count=memories.count(), number=number, size=size)
        )


class MemoryCollectionView(Mem0View):
    @mem0_schema(
        "delete_all",
        summary="Delete the memories of one user_id, agent_id, run_id or app_id (never all)",
        parameters=[s.Mem0EntityQuerySerializer],
        responses={200: s.Mem0MessageResultSerializer},
    )
    def delete(self, request: Request) -> Response:
        validated(s.Mem0EntityQuerySerializer, request.query_params)
        entities = entities_from(request.query_params.dict())
        if not entities.any():
            # mem0's own delete_all once wiped every user's memories when given no entity.
            raise ValidationFailed(
                "Name the user_id, agent_id, run_id or app_id whose memories to delete.",
                details={"user_id": ["At least one entity id is required."]},
            )
        deleted = services.mem0_memories_delete(
            user=request.user, alternatives=filters_from({}, entities=entities)
        )
        return Response({"message": "Memories deleted successfully!", "deleted": deleted})


class MemoryDetailView(Mem0View):
    @mem0_schema(
        "get",
        parameters=[MEMORY_ID],
        responses={200: s.Mem0MemorySerializer},
    )
    def get(self, request: Request, memory_id: str) -> Response:
        return Response(memory_body(memory_get(user=request.user, memory_id=memory_id)))

    @mem0_schema(
        "update",
        summary="Replace a memory's text and/or metadata",
        parameters=[MEMORY_ID],
        request=s.Mem0UpdateSerializer,
        responses={200: s.Mem0MemorySerializer},
    )
    def put(self, request: Request, memory_id: str) -> Response:
        memory = memory_get(user=request.user, memory_id=memory_id)
        data = validated(s.Mem0UpdateSerializer, request.data)
        memory = services.mem0_memory_update(
            memory=memory, text=data.get("text"), metadata=data.get("metadata")
        )
        return Response(memory_body(memory))

    @mem0_schema(
        "delete",
        parameters=[MEMORY_ID],
        responses={200: s.Mem0MessageResultSerializer},
    )
    def delete(self, request: Request, memory_id: str) -> Response:
        services.mem0_batch_delete(user=request.user, memory_ids=[memory_id])
        return Response({"message": "Memory deleted successfully!"})


def _history_item(entry: MemoryHistory, entities: dict[str, Any]) -> dict[str, Any]:
    event = HISTORY_EVENTS.get(entry.event, "UPDATE" if entry.new_content else "DELETE")
    return {
        "id": str(entry.pk),
        "memory_id": str(entry.memory_id),
        "event": event,
        "old_memory": entry.old_content or None,
        "new_memory": entry.new_content or None,
        "user_id": entities.get("user_id"),
        "input": [],
        "metadata": None,
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.created_at.isoformat(),
    }


class MemoryHistoryView(Mem0View):
    @mem0_schema(
        "history",
        summary="Every change of a memory, oldest first (kept after a delete)",
        parameters=[MEMORY_ID],
        responses={200: s.Mem0HistorySerializer(many=True)},
    )
    def get(self, request: Request, memory_id: str) -> Response:
        entries, cursor = [], None
        while True:
            page = memory_history_page(
                user=request.user, memory_id=memory_id, cursor=cursor, limit=100
            )
            entries += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        # A removed memory's entity ids are in the snapshot its removal recorded.
        removed = next((entry.snapshot for entry in entries if entry.snapshot), None)
        if removed is not None:
            ids = entity_ids(removed.get("metadata", {}))
        else:
            ids = entity_ids(memory_get(user=request.user, memory_id=memory_id).metadata)
        return Response([_history_item(entry, ids) for entry in entries])


class BatchView(Mem0View):
    @mem0_schema(
        "batch_update",
        summary="Update many memories in one transaction (all or nothing)",
        request=s.Mem0BatchUpdateSerializer,
        responses={200: s.Mem0MessageResultSerializer},
    )
    def put(self, request: Request) -> Response:
        data = validated(s.Mem0BatchUpdateSerializer, request.data)
        count = services.mem0_batch_update(user=request.user, items=data["memories"])
        return Response({"message": f"Successfully updated {count} memories"})

    @mem0_schema(
        "batch_delete",
        summary="Delete many memories in one transaction (all or nothing)",
        request=s.Mem0BatchDeleteSerializer,
        responses={200: s.Mem0MessageResultSerializer},
    )
    def delete(self, request: Request) -> Response:
        data = validated(s.Mem0BatchDeleteSerializer, request.data)
        ids = [item["memory_id"] for item in data["memories"]]
        count = services.mem0_batch_delete(user=request.user, memory_ids=ids)
        return Response({"message": f"Successfully deleted {count} memories"})


class EntitiesView(Mem0View):
    @mem0_schema(
        "entities",
        summary="Every user, agent, run and app id your memories name",
        responses={200: s.Mem0EntityPageSerializer},
    )
    def get(self, request: Request) -> Response:
        results = mem0_entities(user=request.user)
        return Response(_page_body(request, results, count=len(results)))
