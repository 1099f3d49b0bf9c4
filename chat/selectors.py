"""Reads for the chat app: threads and their messages."""

from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet

from accounts.models import User
from chat.models import Message, ModelContext, Thread
from core.ownership import get_owned_object


def with_message_count(threads: QuerySet[Thread]) -> QuerySet[Thread]:
    """``threads`` with ``message_count``: the list and a single thread count the same way."""
    return threads.annotate(message_count=Count("messages"))


def threads_of(user: User, *, q: str = "") -> QuerySet[Thread]:
    """The user's threads, optionally those whose title or a model summary mentions ``q``."""
    threads = Thread.objects.filter(user=user)
    if q:
        in_summary = ModelContext.objects.filter(thread=OuterRef("pk"), summary__icontains=q)
        threads = threads.filter(title__icontains=q) | threads.filter(Exists(in_summary))
    return with_message_count(threads)


def thread_get(user: User, thread_id) -> Thread:
    return get_owned_object(Thread.objects.all(), owner=user, pk=thread_id)


def messages_of(thread: Thread, model_id: str) -> QuerySet[Message]:
    return Message.objects.filter(thread=thread, model_id=model_id)


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
