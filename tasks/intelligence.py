"""Suggestions (TaskIntelligence): tasks a language model proposes from the user's recent
memories, kept as drafts (``is_ai_suggested``, not approved) until the user approves one
(``PATCH is_approved``) or dismisses it (``DELETE``).

Chat reaches this through memories: a finished chat exchange is saved as a memory, and tasks
reads memories only through their public selectors.
"""

import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from core.parsers import json_loads
from llm.selectors import model_usable_check
from llm.services import complete_for_user
from memories.selectors import MemoryFilters, memory_page
from tasks.models import OPEN_STATUSES, TITLE_MAX_CHARS, Priority, Task, TaskSource
from tasks.services import task_create

logger = logging.getLogger(__name__)
MEMORY_CHARS = 500
PROMPT = """You help a person keep track of what they need to do. From the notes below (their \
recent memories, newest first), propose at most {count} concrete tasks they have not planned yet. \
Leave out anything already in their task list. Answer only with JSON: {{"tasks": [{{"title": \
"...", "description": "...", "priority": "low|medium|high|urgent", "difficulty": 1-5}}]}}; \
an empty list when nothing is worth proposing.

Their open tasks:
{tasks}

Their notes:
{notes}"""
JSON_OPTIONS = {"response_format": {"type": "json_object"}, "temperature": 0}


def _title_key(title: str) -> str:
    """A title as compared for duplicates: case, spacing and trailing punctuation ignored."""
    return re.sub(r"\s+", " ", title).strip().rstrip(".!").casefold()


def suggestions_pending_count(*, user: User) -> int:
    return Task.objects.filter(
        user=user, is_ai_suggested=True, is_approved=False, status__in=OPEN_STATUSES
    ).count()


def _proposals(text: str) -> list[dict[str, Any]]:
    """The proposals in the model's answer; none when it is not the JSON asked for (a model
    that chats instead has proposed nothing the user could approve)."""
    try:
        proposals = json_loads(text)["tasks"]
    except (ValueError, KeyError, TypeError):
        proposals = None
    if not isinstance(proposals, list):
        logger.warning("The suggestion model's answer held no task list; nothing is proposed")
        return []
    return [item for item in proposals if isinstance(item, dict)]


def _draft_fields(item: dict[str, Any]) -> dict[str, Any] | None:
    """The task fields of one proposal, or None when it has no usable title."""
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        return None
    priority = item.get("priority")
    difficulty = item.get("difficulty")
    description = item.get("description")
    return {
        "title": title.strip()[:TITLE_MAX_CHARS],
        "description": description.strip() if isinstance(description, str) else "",
        "priority": priority if priority in Priority.values else Priority.MEDIUM,
        "difficulty": min(max(difficulty, 1), 5) if isinstance(difficulty, int) else 1,
    }


def tasks_suggest(*, user: User) -> list[Task]:
    """Ask the model for tasks from ``user``'s recent memories and store the new ones as drafts
    awaiting approval. Never more than TASKS_SUGGESTIONS_MAX_PENDING drafts wait at once (none
    is asked for when that many already wait); a proposal whose title matches an open task or
    a waiting draft is dropped; an answer that is not the JSON asked for proposes nothing.
    Raises ServiceUnavailable (503) when no model is usable, a provider error when it fails."""
    model_id = model_usable_check(
        user,
        model_id=settings.TASKS_SUGGESTION_MODEL,
        purpose="task suggestions",
        setting="TASKS_SUGGESTION_MODEL",
    )
    room = settings.TASKS_SUGGESTIONS_MAX_PENDING - suggestions_pending_count(user=user)
    if room <= 0:
        return []
    notes = memory_page(
        user=user, filters=MemoryFilters(), cursor=None, limit=settings.TASKS_SUGGESTION_MEMORIES
    ).items
    if not notes:
        return []
    open_titles = list(
        Task.objects.filter(user=user, status__in=OPEN_STATUSES)
        .order_by("-created_at")
        .values_list("title", flat=True)[:200]
    )
    prompt = PROMPT.format(
        count=room,
        tasks="\n".join(f"- {title}" for title in open_titles) or "(none)",
        notes="\n".join(f"- {memory.content[:MEMORY_CHARS]}" for memory in notes),
    )
    completion = complete_for_user(
        user=user,
        model_id=model_id,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=800,
        options=JSON_OPTIONS,
    )
    proposals = [fields for item in _proposals(completion.text) if (fields := _draft_fields(item))]
    with transaction.atomic():
        # Counted again under the user's lock: two requests at once stay under the cap.
        User.objects.select_for_update().filter(pk=user.pk).first()
        room = settings.TASKS_SUGGESTIONS_MAX_PENDING - suggestions_pending_count(user=user)
        seen = {
            _title_key(title)
            for title in Task.objects.filter(user=user, status__in=OPEN_STATUSES).values_list(
                "title", flat=True
            )
        }
        drafts = []
        for fields in proposals:
            if len(drafts) >= room or _title_key(fields["title"]) in seen:
                continue
            seen.add(_title_key(fields["title"]))
            drafts.append(
                task_create(
                    user=user,
                    **fields,
                    is_ai_suggested=True,
                    is_approved=False,
                    source=TaskSource.SUGGESTION,
                )
            )
    return drafts
