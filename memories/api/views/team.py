"""A team's shared memories: read by its members, written by the roles that may
(teams.selectors.space_of). A team one is not in is a 404, like another user's memory; every
read and write is written to the team's audit log."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import validated_serializer
from core.ownership import get_owned_object
from memories import selectors, services
from memories.api import serializers as s
from memories.api.views.common import CONFLICT, MEMORY_ID, TAG, MemoryView, memory_response
from memories.models import Memory
from teams.models import AuditAction
from teams.selectors import space_of
from teams.services import team_memory_audit

ORG_ID = OpenApiParameter(
    "organisation_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The organisation's id.",
)


def _audit(user, organisation_id, action: str, memories: list[Memory]) -> None:
    team_memory_audit(
        user=user,
        organisation_id=organisation_id,
        action=action,
        memory_ids=[memory.pk for memory in memories],
    )


class TeamMemoryView(MemoryView):
    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # A non-member learns nothing, not even what a valid body would be: 404 first.
        space_of(user=request.user, organisation_id=kwargs["organisation_id"])


class TeamMemoryCollectionView(TeamMemoryView):
    @extend_schema(
        tags=TAG,
        operation_id="team_memories_list",
        summary="List a team's memories, newest first (members)",
        parameters=[ORG_ID, s.MemoryListQuerySerializer],
        responses={200: s.MemoryPageSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        space = space_of(user=request.user, organisation_id=organisation_id)
        query = validated_serializer(s.MemoryListQuerySerializer, request.query_params)
        page = selectors.memory_page(
            user=space.space,
            filters=query.to_filters(),
            cursor=query.validated_data.get("cursor") or None,
            limit=query.validated_data["limit"],
        )
        _audit(request.user, space.organisation_id, AuditAction.MEMORY_READ, page.items)
        return Response(
            {
                "results": s.MemorySerializer(page.items, many=True).data,
                "next_cursor": page.next_cursor,
                "has_more": page.has_more,
            }
        )

    @extend_schema(
        tags=TAG,
        operation_id="team_memories_create",
        summary="Save a team memory (the roles that may write)",
        parameters=[ORG_ID],
        request=s.MemoryCreateSerializer,
        responses={201: s.MemorySavedSerializer, 200: s.MemorySavedSerializer},
    )
    def post(self, request: Request, organisation_id: str) -> Response:
        space = space_of(user=request.user, organisation_id=organisation_id, write=True)
        data = validated_serializer(s.MemoryCreateSerializer, request.data)
        memory, created = services.memory_create(user=space.space, draft=data.to_draft())
        _audit(request.user, space.organisation_id, AuditAction.MEMORY_WRITTEN, [memory])
        return memory_response(memory, created)


class TeamMemoryDetailView(TeamMemoryView):
    def _memory(self, request: Request, organisation_id: str, memory_id: str, *, write: bool):
        space = space_of(user=request.user, organisation_id=organisation_id, write=write)
        memory = get_owned_object(Memory.objects.all(), owner=space.space, pk=memory_id)
        return space, memory

    @extend_schema(
        tags=TAG,
        operation_id="team_memories_retrieve",
        summary="One team memory (members)",
        parameters=[ORG_ID, MEMORY_ID],
        responses={200: s.MemorySerializer},
    )
    def get(self, request: Request, organisation_id: str, memory_id: str) -> Response:
        space, memory = self._memory(request, organisation_id, memory_id, write=False)
        _audit(request.user, space.organisation_id, AuditAction.MEMORY_READ, [memory])
        return Response(s.MemorySerializer(memory).data)

    @extend_schema(
        tags=TAG,
        operation_id="team_memories_destroy",
        summary="Delete a team memory (the roles that may write)",
        parameters=[ORG_ID, MEMORY_ID],
        responses={204: None, 409: CONFLICT},
    )
    def delete(self, request: Request, organisation_id: str, memory_id: str) -> Response:
        space, memory = self._memory(request, organisation_id, memory_id, write=True)
        services.memory_delete(memory=memory)
        _audit(request.user, space.organisation_id, AuditAction.MEMORY_WRITTEN, [memory])
        return Response(status=204)
