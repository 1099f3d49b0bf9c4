"""Reads for the chat app: threads and their messages."""

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
