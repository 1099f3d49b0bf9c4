"""Reads for the chat app: threads and their messages."""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.db.models.functions import Left

from accounts.models import User
from chat.models import Message, ModelContext, Thread
from core.errors import NotFound
from core.ownership import get_owned_object, owned_id


def with_message_count(threads: QuerySet[Thread]) -> QuerySet[Thread]:
    """``threads`` with ``message_count``: the list and a single thread count the same way."""
    return threads.annotate(message_count=Count("messages"))


def threads_matching(user: User, *, q: str = "") -> QuerySet[Thread]:
    """The user's threads, optionally those whose title or a model summary mentions ``q``
    (without counts: what a total counts)."""
    threads = Thread.objects.filter(user=user)
    if q:
        in_summary = ModelContext.objects.filter(thread=OuterRef("pk"), summary__icontains=q)
        threads = threads.filter(title__icontains=q) | threads.filter(Exists(in_summary))
    return threads


def threads_of(user: User, *, q: str = "") -> QuerySet[Thread]:
    """``threads_matching``, each with its ``message_count``."""
    return with_message_count(threads_matching(user, q=q))


# How much of its last message a thread list shows (a sidebar's line, not the message).
LAST_MESSAGE_PREVIEW_CHARS = 280


@dataclass(frozen=True)
class ModelActivity:
    """One model's conversation in a thread."""

    message_count: int = 0
    last_message_at: dt.datetime | None = None
    summary: str = ""
    summary_updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class ThreadActivity:
    """What a thread list or tab strip shows of a thread: each model's conversation (the most
    recently active first) and the thread's last message (``preview``: its first
    LAST_MESSAGE_PREVIEW_CHARS characters)."""

    models: dict[str, ModelActivity] = field(default_factory=dict)
    last_message: Message | None = None

    @property
    def active_models(self) -> list[str]:
        return list(self.models)

    @property
    def summary(self) -> str | None:
        """The newest of the models' summaries; None before any is written."""
        written = [m for m in self.models.values() if m.summary]
        newest = max(written, key=lambda m: m.summary_updated_at, default=None)
        return newest.summary if newest else None


def _activity_order(item: tuple[str, ModelActivity]) -> tuple[bool, dt.datetime]:
    last = item[1].last_message_at
    return last is not None, last or dt.datetime.min.replace(tzinfo=dt.UTC)


def threads_with_activity(threads: Sequence[Thread]) -> Sequence[Thread]:
    """``threads``, each with ``activity`` (a ThreadActivity), in three queries whatever their
    number."""
    ids = [thread.pk for thread in threads]
    per_model: dict[uuid.UUID, dict[str, dict[str, Any]]] = {pk: {} for pk in ids}
    counted = (
        Message.objects.filter(thread_id__in=ids)
        .values("thread_id", "model_id")
        .annotate(message_count=Count("pk"), last_message_at=Max("created_at"))
        .order_by()
    )
    for row in counted:
        per_model[row["thread_id"]][row["model_id"]] = {
            "message_count": row["message_count"],
            "last_message_at": row["last_message_at"],
        }
    contexts = ModelContext.objects.filter(thread_id__in=ids).exclude(summary="")
    for context in contexts.only("thread_id", "model_id", "summary", "updated_at"):
        per_model[context.thread_id].setdefault(context.model_id, {}).update(
            summary=context.summary, summary_updated_at=context.updated_at
        )
    last_messages = {
        message.thread_id: message
        for message in Message.objects.filter(thread_id__in=ids)
        .order_by("thread_id", "-created_at", "-pk")
        .distinct("thread_id")
        .defer("content", "memories_used")
        .annotate(preview=Left("content", LAST_MESSAGE_PREVIEW_CHARS))
    }
    for thread in threads:
        models = {name: ModelActivity(**values) for name, values in per_model[thread.pk].items()}
        thread.activity = ThreadActivity(
            models=dict(sorted(models.items(), key=_activity_order, reverse=True)),
            last_message=last_messages.get(thread.pk),
        )
    return threads


def thread_unused(user: User) -> Thread | None:
    """The user's newest thread that has neither a title nor a message, if any: where a "new
    conversation" goes rather than into another empty one."""
    used = Message.objects.filter(thread=OuterRef("pk"))
    return (
        Thread.objects.filter(user=user, title="", persona=None)
        .exclude(Exists(used))
        .order_by("-created_at")
        .first()
    )


def thread_get(user: User, thread_id) -> Thread:
    return get_owned_object(Thread.objects.all(), owner=user, pk=thread_id)


def thread_messages_recent(thread: Thread, *, limit: int) -> tuple[list[Message], bool]:
    """The newest ``limit`` messages of ``thread``, every model's, oldest first, and whether
    there are older ones (each model's whole conversation pages at its messages path)."""
    newest = list(Message.objects.filter(thread=thread).order_by("-created_at", "-pk")[: limit + 1])
    return newest[:limit][::-1], len(newest) > limit


def thread_last_model(thread: Thread) -> str:
    """The model the thread's newest message is with ("" for a thread with none)."""
    newest = Message.objects.filter(thread=thread).order_by("-created_at", "-pk")
    return newest.values_list("model_id", flat=True).first() or ""


def messages_of(thread: Thread, model_id: str) -> QuerySet[Message]:
    """The thread's messages with ``model_id``, whether or not the catalog still lists it (its
    history stays readable); none for an id PostgreSQL's text cannot hold (a NUL)."""
    if "\x00" in model_id:
        return Message.objects.none()
    return Message.objects.filter(thread=thread, model_id=model_id)


def thread_message_get(thread: Thread, message_id: Any) -> Message:
    """One message of ``thread``; NotFound for another thread's, a missing or a malformed id."""
    message = Message.objects.filter(thread=thread, pk=owned_id(message_id, name="message")).first()
    if message is None:
        raise NotFound("No message with this id.")
    return message


def exchange_get(*, question_id: Any, answer_id: Any) -> tuple[Message, Message] | None:
    """The saved exchange of one thread (the user's message ``question_id`` and the answer
    ``answer_id``), with the thread and its owner; None when either message is gone or the
    owner is no longer active."""
    messages = {
        str(message.pk): message
        for message in Message.objects.select_related("thread__user").filter(
            pk__in=[question_id, answer_id], thread__user__is_active=True
        )
    }
    question, answer = messages.get(str(question_id)), messages.get(str(answer_id))
    if question is None or answer is None or question.thread_id != answer.thread_id:
        return None
    return question, answer
