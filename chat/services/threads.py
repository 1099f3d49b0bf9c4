"""Thread writes: create, rename, give a persona, delete with everything in it."""

from django.db import transaction

from accounts.models import Persona, User
from chat.models import Thread
from memories.services import thread_detach

TITLE_MAX_CHARS = 200


def thread_create(*, user: User, title: str = "", persona: Persona | None = None) -> Thread:
    return Thread.objects.create(user=user, title=title.strip()[:TITLE_MAX_CHARS], persona=persona)


def thread_persona_set(*, thread: Thread, persona: Persona | None) -> Thread:
    """The thread's next turns speak as ``persona`` (None: as the user's profile says)."""
    thread.persona = persona
    thread.save(update_fields=["persona", "updated_at"])
    return thread


def thread_replace(*, thread: Thread, title: str, persona: Persona | None) -> Thread:
    """Set everything a client may set on ``thread`` at once (a PUT): its title and persona."""
    thread.title = title.strip()[:TITLE_MAX_CHARS]
    thread.title_generated = False
    thread.persona = persona
    thread.save(update_fields=["title", "title_generated", "persona", "updated_at"])
    return thread


def thread_rename(*, thread: Thread, title: str) -> Thread:
    thread.title = title.strip()[:TITLE_MAX_CHARS]
    thread.title_generated = False
    thread.save(update_fields=["title", "title_generated", "updated_at"])
    return thread


def thread_delete(*, thread: Thread) -> int:
    """Delete the thread with everything in it; return how many messages went with it."""
    with transaction.atomic():
        messages = thread.messages.count()
        thread_detach(user_id=thread.user_id, thread_id=thread.pk)
        thread.delete()
    return messages
