"""A memory as a caller describes it, checked and prepared for a write; the quota, history
and duplicate checks every write shares."""

import hashlib
import json
import logging
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from accounts.models import User
from billing.tiers import allowance
from core.db import transaction_lock
from core.errors import PayloadTooLarge, QuotaExceeded, ValidationFailed
from core.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from memories.models import (
    FOLDED_BY_CONTENT,
    Memory,
    MemoryHistory,
    Provider,
    Source,
)

logger = logging.getLogger(__name__)

BULK_MAX_ITEMS = 500
# A memory's tags, whichever door they come in by: at most MAX_TAGS, each at most TAG_MAX_CHARS
# (the column's width, which PostgreSQL would otherwise cut them to without a word).
MAX_TAGS = 50
TAG_MAX_CHARS = 64
# How deep a memory's metadata may nest, whichever door it comes in by (REST, bulk, import,
# MCP, the mem0-compatible API): the deepest envelope it travels in, a bulk request's item
# (body, list, item), still fits the JSON reader's limit, and so does its export line.
METADATA_MAX_DEPTH = MAX_JSON_DEPTH - 3
# Fields of a memory a PATCH may change.
UPDATABLE_FIELDS = (
    "title",
    "content",
    "tags",
    "importance",
    "metadata",
    "source_url",
    "agent_id",
    "session_id",
)


@dataclass
class MemoryDraft:
    """What a caller wants stored; ``content`` defaults to the prompt and response together."""

    content: str = ""
    prompt: str = ""
    response: str = ""
    title: str = ""
    provider: str = Provider.API
    source: str = Source.API
    source_url: str = ""
    tags: list[str] = field(default_factory=list)
    importance: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_id: str = ""
    session_id: str = ""
    conversation_id: str = ""
    created_at: datetime | None = None
    thread_id: uuid.UUID | None = None


@dataclass(frozen=True)
class BulkItemResult:
    index: int
    memory: Memory
    created: bool


# --- Derived values --------------------------------------------------------------------------


def compose_content(prompt: str, response: str) -> str:
    """The searchable text of a captured exchange: the prompt, then the response."""
    return f"{prompt}\n\n{response}" if response else prompt


def normalised_text(content: str) -> str:
    """``content`` as deduplication compares it: Unicode NFKC, case-folded, runs of whitespace as
    one space, none at either end.

    Nothing else is folded: every other character may carry meaning ("C#" is not "C", "--force"
    not "force", "example.com/a/b" not "example.com/a-b", "@alice" not "alice", "1.5" not "15").
    Texts that differ in any character but case and spacing never fold.
    """
    return " ".join(unicodedata.normalize("NFKC", content).casefold().split())


def content_hash(content: str) -> str:
    """Identity of a memory's text for deduplication: the sha256 of ``normalised_text``."""
    return hashlib.sha256(normalised_text(content).encode()).hexdigest()


def _size_bytes(values: dict[str, Any]) -> int:
    text = (values[name] for name in ("content", "prompt", "response", "title"))
    return sum(len(part.encode()) for part in text) + len(json.dumps(values["metadata"]).encode())


def _too_large(limit: int, **details: Any) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The content exceeds the limit of {limit} characters.",
        details={"limit_chars": limit, **details},
    )


def _clean_tags(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        if cleaned := tag.strip():
            seen.setdefault(cleaned, None)
    problems = []
    if len(seen) > MAX_TAGS:
        problems.append(f"A memory may have at most {MAX_TAGS} tags.")
    if any(len(tag) > TAG_MAX_CHARS for tag in seen):
        problems.append(f"A tag may be at most {TAG_MAX_CHARS} characters.")
    if problems:
        raise ValidationFailed("The tags are not valid.", details={"tags": problems})
    return list(seen)


def _check_content(content: str) -> None:
    if not content.strip():
        raise ValidationFailed(
            "A memory needs some text.", details={"content": ["This field may not be blank."]}
        )
    limit = settings.MEMORY_MAX_CONTENT_CHARS
    if len(content) > limit:
        raise _too_large(limit, length=len(content))


def _check_metadata(metadata: dict[str, Any]) -> None:
    if json_depth_exceeds(metadata, METADATA_MAX_DEPTH):
        raise ValidationFailed(
            f"Metadata may be nested at most {METADATA_MAX_DEPTH} levels deep.",
            details={"metadata": [f"At most {METADATA_MAX_DEPTH} levels deep."]},
        )


def _check_importance(importance: float) -> None:
    if not 0 <= importance <= 1:
        raise ValidationFailed(details={"importance": ["Must be between 0 and 1."]})


def _checked(draft: MemoryDraft) -> tuple[str, list[str]]:
    """``draft``'s text and tags once every rule beyond its fields' own holds (a memory needs
    text, within the size; metadata not too deep); raises ValidationFailed or PayloadTooLarge."""
    content = draft.content or compose_content(draft.prompt, draft.response)
    _check_content(content)
    _check_metadata(draft.metadata)
    _check_importance(draft.importance)
    return content, _clean_tags(draft.tags)


def draft_problems(draft: MemoryDraft) -> dict[str, Any] | None:
    """What ``draft`` breaks of those rules, as field errors, or None (too large is left to the
    request's 413, which says the limit): so a request of many items names every item's
    problems at once, not its fields' first and its text's after they are fixed."""
    try:
        _checked(draft)
    except ValidationFailed as exc:
        return exc.details
    except PayloadTooLarge:
        return None
    return None


def _prepared(draft: MemoryDraft) -> dict[str, Any]:
    """Model field values for ``draft``; raises ValidationFailed or PayloadTooLarge."""
    content, tags = _checked(draft)
    values = {
        "content": content,
        "prompt": draft.prompt,
        "response": draft.response,
        "title": draft.title,
        "provider": draft.provider,
        "source": draft.source,
        "source_url": draft.source_url,
        "tags": tags,
        "importance": draft.importance,
        "metadata": draft.metadata,
        "agent_id": draft.agent_id,
        "session_id": draft.session_id,
        "conversation_id": draft.conversation_id,
        "thread_id": draft.thread_id,
        "content_hash": content_hash(content),
    }
    values["size_bytes"] = _size_bytes(values)
    if draft.created_at is not None:
        values["created_at"] = draft.created_at
    return values


# --- Quota, history, side effects ----------------------------------------------------------------


def _ensure_allowance(user: User, *, adding: int, adding_bytes: int) -> None:
    """Raise QuotaExceeded unless ``user`` may store ``adding`` more memories of
    ``adding_bytes``. Call it inside the transaction that writes them: it holds the user's
    quota lock until that transaction ends, so that concurrent writes are counted one after the
    other (each counting what the one before it committed) rather than all against the same
    count."""
    limited = [
        feature
        for feature in ("memories", "memory_storage_bytes")
        if allowance(user, feature, used=0, adding=0).limit is not None
    ]
    if not limited:
        return
    transaction_lock("memories.quota", str(user.pk))
    usage = Memory.objects.filter(user=user).aggregate(
        memories=Count("id"), memory_storage_bytes=Coalesce(Sum("size_bytes"), 0)
    )
    requested = {"memories": adding, "memory_storage_bytes": adding_bytes}
    for feature in limited:
        answer = allowance(user, feature, used=usage[feature], adding=requested[feature])
        if not answer.allowed:
            raise QuotaExceeded(
                f"Your plan allows {answer.limit} {feature.replace('_', ' ')}.",
                details={
                    "feature": feature,
                    "limit": answer.limit,
                    "used": usage[feature],
                    "requested": requested[feature],
                },
            )


def _history(
    memory: Memory, event: str, *, old: str, new: str, fields: Sequence[str] = (), **cause: Any
) -> MemoryHistory:
    """An unsaved history entry; ``cause`` sets its other fields (``job_id``, ``snapshot``...)."""
    return MemoryHistory(
        memory_id=memory.pk,
        user_id=memory.user_id,
        event=event,
        old_content=old,
        new_content=new,
        changed_fields=list(fields),
        **cause,
    )


# What a removed memory needs, besides its content, to be recreated by a revert.
SNAPSHOT_FIELDS = (
    "title",
    "prompt",
    "response",
    "provider",
    "source",
    "source_url",
    "tags",
    "importance",
    "metadata",
    "agent_id",
    "session_id",
    "conversation_id",
)


def _snapshot(memory: Memory) -> dict[str, Any]:
    values = {name: getattr(memory, name) for name in SNAPSHOT_FIELDS}
    return {**values, "created_at": memory.created_at.isoformat()}


def _awaits_response(values: dict[str, Any]) -> bool:
    """A captured prompt whose response has not come: folded into nothing, nothing into it."""
    return bool(values["prompt"]) and not values["response"]


def _duplicate_of(user: User, values: dict[str, Any], *, exclude: Any = None) -> Memory | None:
    """The memory ``values`` is the same as (its text in its scope), which it is folded into."""
    if _awaits_response(values):
        return None
    queryset = Memory.objects.filter(
        FOLDED_BY_CONTENT,
        user=user,
        agent_id=values["agent_id"],
        session_id=values["session_id"],
        content_hash=values["content_hash"],
    )
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.first()
