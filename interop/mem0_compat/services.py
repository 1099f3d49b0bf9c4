"""Writes of the mem0 API, composed of memories' own services (quotas, history, embedding and
isolation hold as for Engram's API). Each runs in one transaction: all or nothing."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from accounts.models import User
from core.errors import ServiceUnavailable, ValidationFailed
from interop.mem0_compat.mapping import Entities, is_reserved
from interop.mem0_compat.selectors import mem0_memories
from memories.extraction import extraction_job_create, extraction_model_check
from memories.models import ExtractionJob, Memory
from memories.selectors import MemoryFilters, memory_get
from memories.services import (
    BULK_MAX_ITEMS,
    BulkItemResult,
    MemoryDraft,
    memories_bulk_create,
    memory_delete,
    memory_update,
)

# mem0 stores what the user and the assistant said; system prompts are instructions.
STORED_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class AddOutcome:
    job: ExtractionJob | None = None  # infer=True: the extraction job (mem0's event)
    stored: Sequence[BulkItemResult] = ()  # infer=False: one memory per message
    # infer=True without a language model for extraction: why the messages were stored as
    # they are instead.
    not_inferred_because: str = ""


def _check_metadata(metadata: dict[str, Any]) -> None:
    if reserved := [key for key in metadata if is_reserved(key)]:
        raise ValidationFailed(
            details={"metadata": {key: ["Reserved for the entity ids."] for key in reserved}}
        )


def mem0_add(
    *,
    user: User,
    messages: list[dict[str, Any]],
    entities: Entities,
    metadata: dict[str, Any],
    infer: bool,
    created_at: datetime | None = None,
) -> AddOutcome:
    """mem0's add: with ``infer``, an extraction job over ``messages`` in the entities' scope
    (facts added, updated or deleted there; it runs in the background after commit); without,
    each user and assistant message stored as a memory as it is. With ``infer`` and no
    language model for extraction, the messages are stored as without, and
    ``not_inferred_because`` says why.

    ``entities`` must name at least one id (as mem0 requires).
    """
    if not entities.any():
        raise ValidationFailed(
            "Name at least one of user_id, agent_id, run_id or app_id.",
            details={"user_id": ["At least one entity id is required."]},
        )
    _check_metadata(metadata)
    scope = entities.scope()
    tagged = {**metadata, **entities.metadata()}
    not_inferred_because = ""
    if infer:
        try:
            extraction_model_check(user=user)
        except ServiceUnavailable as unavailable:
            # mem0's own client stores messages without an LLM only when told infer=False; a
            # self-hoster trying Engram has no LLM yet, and the default add should not fail.
            not_inferred_because = unavailable.message
        else:
            job = extraction_job_create(user=user, messages=messages, metadata=tagged, **scope)
            return AddOutcome(job=job)
    drafts = [
        MemoryDraft(content=message["content"], metadata=tagged, created_at=created_at, **scope)
        for message in messages
        if message["role"] in STORED_ROLES and message["content"].strip()
    ]
    if not drafts:
        raise ValidationFailed(details={"messages": ["No user or assistant message has text."]})
    if len(drafts) > BULK_MAX_ITEMS:
        raise ValidationFailed(details={"messages": [f"At most {BULK_MAX_ITEMS} messages."]})
    return AddOutcome(
        stored=memories_bulk_create(user=user, drafts=drafts),
        not_inferred_because=not_inferred_because,
    )


def _changes(memory: Memory, *, text: str | None, metadata: dict[str, Any] | None) -> dict:
    changes: dict[str, Any] = {}
    if text is not None:
        changes["content"] = text
    if metadata is not None:
        _check_metadata(metadata)
        entity_keys = {k: v for k, v in memory.metadata.items() if is_reserved(k)}
        changes["metadata"] = {**metadata, **entity_keys}
    return changes


def mem0_memory_update(
    *, memory: Memory, text: str | None, metadata: dict[str, Any] | None
) -> Memory:
    """Replace a memory's text and/or the caller's metadata (its entity ids stay)."""
    return memory_update(memory=memory, changes=_changes(memory, text=text, metadata=metadata))


def mem0_batch_update(*, user: User, items: Sequence[dict[str, Any]]) -> int:
    """Update each of ``user``'s memories ``items`` name (``memory_id``, ``text``,
    ``metadata``); all or nothing: another user's id is a NotFound and nothing changes."""
    with transaction.atomic():
        for item in items:
            memory = memory_get(user=user, memory_id=item["memory_id"])
            mem0_memory_update(memory=memory, text=item.get("text"), metadata=item.get("metadata"))
    return len(items)


def mem0_batch_delete(*, user: User, memory_ids: Sequence[Any]) -> int:
    """Delete each of ``user``'s memories ``memory_ids``; all or nothing."""
    with transaction.atomic():
        memories = [memory_get(user=user, memory_id=memory_id) for memory_id in memory_ids]
        for memory in {memory.pk: memory for memory in memories}.values():
            memory_delete(memory=memory)
    return len(memories)


def mem0_memories_delete(*, user: User, alternatives: list[MemoryFilters]) -> int:
    """Delete ``user``'s memories matching one of ``alternatives`` (each names an entity, so
    this never reaches beyond it); history is kept. Returns how many."""
    with transaction.atomic():
        memories = list(mem0_memories(user=user, alternatives=alternatives).select_for_update())
        for memory in memories:
            memory_delete(memory=memory)
    return len(memories)
