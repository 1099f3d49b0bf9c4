"""Chat writes: threads, and the messages of one model's conversation in a thread."""

from django.db import transaction

from accounts.models import User
from chat.models import Thread

TITLE_MAX_CHARS = 200


def thread_create(*, user: User, title: str = "") -> Thread:
    return Thread.objects.create(user=user, title=title.strip()[:TITLE_MAX_CHARS])


def thread_rename(*, thread: Thread, title: str) -> Thread:
    thread.title = title.strip()[:TITLE_MAX_CHARS]
    thread.title_generated = False
    thread.save(update_fields=["title", "title_generated", "updated_at"])
    return thread


def thread_delete(*, thread: Thread) -> int:
    """Delete the thread with everything in it; return how many messages went with it."""
    with transaction.atomic():
        messages = thread.messages.count()
        thread.delete()
    return messages
