"""Threads and the messages of each model's conversation in them."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api import serializers as s
from core.api import validated
from core.pagination import page_body, paginate

TAG = "threads"


class ChatView(APIView):
    scope_family = "chat"


class ThreadListView(ChatView):
    @extend_schema(
        tags=[TAG],
        operation_id="threads_list",
        parameters=[s.ThreadListQuery],
        responses={200: s.ThreadPageOutput},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.ThreadListQuery, request.query_params)
        page = paginate(
            selectors.threads_of(request.user, q=query.get("q", "")),
            cursor=query.get("cursor"),
            limit=query["limit"],
            order_field=query["order_by"],
            descending=query["order"] == "desc",
        )
        return Response(page_body(page, s.ThreadOutput))

    @extend_schema(tags=[TAG], request=s.ThreadCreateInput, responses={201: s.ThreadOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.ThreadCreateInput, request.data)
        thread = services.thread_create(user=request.user, title=data["title"])
        return Response(s.ThreadOutput(thread).data, status=201)


class ThreadDetailView(ChatView):
    @extend_schema(tags=[TAG], responses={200: s.ThreadOutput})
    def get(self, request: Request, thread_id: str) -> Response:
        return Response(s.ThreadOutput(selectors.thread_get(request.user, thread_id)).data)

    @extend_schema(tags=[TAG], request=s.ThreadUpdateInput, responses={200: s.ThreadOutput})
    def patch(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_get(request.user, thread_id)
        data = validated(s.ThreadUpdateInput, request.data)
        return Response(s.ThreadOutput(services.thread_rename(thread=thread, **data)).data)

    @extend_schema(tags=[TAG], responses={200: s.ThreadDeletedOutput})
    def delete(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_get(request.user, thread_id)
        deleted = services.thread_delete(thread=thread)
        return Response({"deleted_thread": thread_id, "deleted_messages": deleted})


class MessageListView(ChatView):
    @extend_schema(
        tags=[TAG],
        operation_id="messages_list",
        parameters=[s.MessageListQuery],
        responses={200: s.MessagePageOutput},
    )
    def get(self, request: Request, thread_id: str, model_id: str) -> Response:
        thread = selectors.thread_get(request.user, thread_id)
        query = validated(s.MessageListQuery, request.query_params)
        page = paginate(
            selectors.messages_of(thread, model_id),
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=query["order"] == "desc",
        )
        return Response(page_body(page, s.MessageOutput))
