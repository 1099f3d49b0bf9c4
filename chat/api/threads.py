"""Threads and the messages of each model's conversation in them."""

from asgiref.sync import async_to_sync
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import persona_get
from chat import selectors, services, streaming
from chat.api import serializers as s
from chat.models import Message, Thread
from core.api import ApiView, OwnedObjectView, validated
from core.pagination import page_body, paginate
from core.sse import STREAM_RENDERERS, event_stream, event_stream_response, wants_event_stream
from core.sse_resume import LAST_EVENT_ID, event_id_parse, resume_step

TAG = "threads"
DETAIL_MESSAGES = 100  # the newest messages a thread's detail carries


class ChatView(ApiView):
    scope_family = "chat"


class ThreadView(OwnedObjectView):
    # One of the user's threads, passed to the handlers as ``thread``.

    scope_family = "chat"
    owned_kwarg, owned_arg = "thread_id", "thread"

    def owned_queryset(self) -> QuerySet[Thread]:
        return Thread.objects.all()


class ThreadListView(ChatView):
    @extend_schema(
        tags=[TAG],
        operation_id="threads_list",
        parameters=[s.ThreadListQuery],
        responses={200: s.ThreadPageOutput},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.ThreadListQuery, request.query_params)
        q = query.get("q", "")
        page = paginate(
            selectors.threads_of(request.user, q=q),
            cursor=query.get("cursor"),
            limit=query["limit"],
            order_field=query["order_by"],
            descending=query["order"] == "desc",
        )
        selectors.threads_with_activity(page.items)
        body = page_body(page, s.ThreadListItemOutput)
        total = selectors.threads_matching(request.user, q=q).count()
        return Response({**body, "total_count": total})

    @extend_schema(tags=[TAG], request=s.ThreadCreateInput, responses={201: s.ThreadOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.ThreadCreateInput, request.data)
        persona = persona_get(request.user, data["persona_id"]) if data["persona_id"] else None
        thread = services.thread_create(user=request.user, title=data["title"], persona=persona)
        return Response(s.ThreadOutput(thread).data, status=201)


class ThreadDetailView(ThreadView):
    def owned_queryset(self) -> QuerySet[Thread]:
        return selectors.with_message_count(Thread.objects.all())

    @extend_schema(tags=[TAG], responses={200: s.ThreadDetailOutput})
    def get(self, request: Request, thread: Thread) -> Response:
        selectors.threads_with_activity([thread])
        thread.recent_messages, thread.has_more_messages = selectors.thread_messages_recent(
            thread, limit=DETAIL_MESSAGES
        )
        return Response(s.ThreadDetailOutput(thread).data)

    @extend_schema(
        tags=[TAG],
        request=s.ThreadReplaceInput,
        responses={200: s.ThreadOutput},
        description="Sets everything a client may set: `title` and `persona_id`, both required.",
    )
    def put(self, request: Request, thread: Thread) -> Response:
        data = validated(s.ThreadReplaceInput, request.data)
        persona = persona_get(request.user, data["persona_id"]) if data["persona_id"] else None
        thread = services.thread_replace(thread=thread, title=data["title"], persona=persona)
        return Response(s.ThreadOutput(thread).data)

    @extend_schema(tags=[TAG], request=s.ThreadUpdateInput, responses={200: s.ThreadOutput})
    def patch(self, request: Request, thread: Thread) -> Response:
        data = validated(s.ThreadUpdateInput, request.data)
        if "persona_id" in data:
            persona = persona_get(request.user, data["persona_id"]) if data["persona_id"] else None
            thread = services.thread_persona_set(thread=thread, persona=persona)
        if "title" in data:
            thread = services.thread_rename(thread=thread, title=data["title"])
        return Response(s.ThreadOutput(thread).data)

    @extend_schema(tags=[TAG], responses={200: s.ThreadDeletedOutput})
    def delete(self, request: Request, thread: Thread) -> Response:
        thread_id = str(thread.pk)
        deleted = services.thread_delete(thread=thread)
        return Response({"deleted_thread": thread_id, "deleted_messages": deleted})


class ThreadTitleView(ThreadView):
    # The threads design's rename, as PATCH /threads/{id} with a title does.

    def owned_queryset(self) -> QuerySet[Thread]:
        return selectors.with_message_count(Thread.objects.all())

    @extend_schema(tags=[TAG], request=s.ThreadTitleInput, responses={200: s.ThreadOutput})
    def patch(self, request: Request, thread: Thread) -> Response:
        data = validated(s.ThreadTitleInput, request.data)
        return Response(
            s.ThreadOutput(services.thread_rename(thread=thread, title=data["title"])).data
        )


RESUME_INTERVAL = 0.1  # seconds between two looks at a resumed stream still running
RESUMED_STREAM = OpenApiResponse(
    OpenApiTypes.STR,
    description="With `Last-Event-ID` (the `id:` of the last event received): the events of "
    "that answer's stream after it, then the live ones until `close`. 410 `STREAM_EXPIRED` "
    "once they are no longer kept (`SSE_RESUME_SECONDS` after the stream's last event).",
)
LAST_EVENT_ID_HEADER = OpenApiParameter(
    LAST_EVENT_ID,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Resume a streamed answer after this event (`<message id>.<n>`, as sent).",
)


def _resumed(request: Request, thread: Thread, model_id: str):
    """The stream ``Last-Event-ID`` names, from the event after it (see RESUMED_STREAM)."""
    stream_id, after = event_id_parse(request.headers[LAST_EVENT_ID])
    owner = {"user_id": str(request.user.pk), "thread_id": str(thread.pk), "model_id": model_id}
    step = resume_step(stream_id, after, owner)
    return event_stream_response(request, step, interval=RESUME_INTERVAL)


class MessageListView(ThreadView):
    renderer_classes = STREAM_RENDERERS

    @extend_schema(
        tags=[TAG],
        operation_id="messages_list",
        parameters=[s.MessageListQuery, LAST_EVENT_ID_HEADER],
        responses={200: s.MessagePageOutput, (200, "text/event-stream"): RESUMED_STREAM},
    )
    def get(self, request: Request, thread: Thread, model_id: str) -> Response:
        if LAST_EVENT_ID in request.headers:
            return _resumed(request, thread, model_id)
        query = validated(s.MessageListQuery, request.query_params)
        page = paginate(
            selectors.messages_of(thread, model_id),
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=query["order"] == "desc",
        )
        return Response(page_body(page, s.MessageOutput))

    @extend_schema(
        tags=[TAG],
        operation_id="messages_create",
        request=s.MessageCreateInput,
        parameters=[LAST_EVENT_ID_HEADER],
        responses={
            200: s.ExchangeOutput,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="With `stream: true` or `Accept: text/event-stream`: SSE events "
                "`message_start`, `token`, `message_complete` (with usage), `error`, `close`, "
                "each with an `id` and a `timestamp`, and a `: keep-alive` comment every 15 s. "
                "With `Last-Event-ID`: that stream resumed, no new turn. See docs/chat.md, "
                "Streaming events.",
            ),
        },
    )
    def post(self, request: Request, thread: Thread, model_id: str) -> Response:
        if LAST_EVENT_ID in request.headers:
            # A client sending its turn again after losing the stream resumes it: no new turn.
            return _resumed(request, thread, model_id)
        data = validated(s.MessageCreateInput, request.data)
        turn = services.turn_prepare(
            user=request.user,
            thread=thread,
            model_id=model_id,
            content=data["content"],
            temperature=data["temperature"],
            include_team=data.get("include_team"),
        )
        if data["stream"] or wants_event_stream(request):
            return event_stream(streaming.sse_stream(turn))
        return Response(_exchange(turn))


def _exchange(turn: services.PreparedTurn) -> dict:
    """Run ``turn`` to its end: both messages, or the provider's error (with the answer's id)."""
    result = async_to_sync(streaming.collect)(turn)
    if result.error is not None:
        result.error.details["assistant_message_id"] = str(result.answer.pk)
        result.error.details["thread_id"] = str(turn.thread_id)
        raise result.error
    question = Message.objects.get(pk=turn.user_message_id)
    return {
        "user_message": s.MessageOutput(question).data,
        "assistant_message": s.MessageOutput(result.answer).data,
    }


class ThreadStartView(ChatView):
    # The chat-with-memory design's one call: a new thread and its first message.
    renderer_classes = STREAM_RENDERERS

    @extend_schema(
        tags=[TAG],
        operation_id="threads_start",
        request=s.ThreadStartInput,
        responses={
            201: s.ThreadStartedOutput,
            (201, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="With `stream: true` or `Accept: text/event-stream`: "
                "`session_created` (`thread_id`, `title`, `model`) first, then the turn's "
                "events as `POST …/messages` streams them.",
            ),
        },
        description="Creates a thread and sends its first message to `model_id`, as "
        "`POST /threads` then `POST /threads/{id}/models/{model_id}/messages` would; nothing "
        "is created when the message cannot be sent (an unknown model, a message too long).",
    )
    def post(self, request: Request, model_id: str) -> Response:
        data = validated(s.ThreadStartInput, request.data)
        persona = persona_get(request.user, data["persona_id"]) if data["persona_id"] else None
        turn = services.thread_start(
            user=request.user,
            title=data["title"],
            persona=persona,
            model_id=model_id,
            content=data["content"],
            temperature=data["temperature"],
            include_team=data.get("include_team"),
        )
        if data["stream"] or wants_event_stream(request):
            created = streaming.ChatEvent(
                "session_created",
                {
                    "thread_id": str(turn.thread_id),
                    "title": data["title"].strip(),
                    "model": turn.model.id,
                },
            )
            response = event_stream(streaming.sse_stream(turn, opening=[created]))
            response.status_code = 201
            return response
        exchange = _exchange(turn)
        thread = selectors.with_message_count(Thread.objects.filter(pk=turn.thread_id)).get()
        return Response({"thread": s.ThreadOutput(thread).data, **exchange}, status=201)


class SummarizeView(ThreadView):
    # The newest exchange stays verbatim; everything before it goes into the summary.
    KEEP_RECENT = 2

    @extend_schema(tags=[TAG], request=None, responses={200: s.SummaryOutput})
    def post(self, request: Request, thread: Thread, model_id: str) -> Response:
        context = services.thread_summarize(
            thread=thread, model_id=model_id, keep_recent=self.KEEP_RECENT
        )
        return Response(s.SummaryOutput(context).data)
