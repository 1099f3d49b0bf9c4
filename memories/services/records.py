"""Writes of single memories: create, update, the capture's response, delete, revert, prune.

Services validate, write inside their own transaction, and schedule side effects (embedding,
the summary, extraction) after commit, so no task ever sees uncommitted rows."""

import dataclasses
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from accounts.models import User
from core.db import transaction_lock
from core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from core.ownership import get_owned_object, owned_id
from memories.models import (
    CaptureReceipt,
    EmbeddingStatus,
    HistoryEvent,
    JobTrigger,
    Memory,
    MemoryChunk,
    MemoryHistory,
    MemorySummary,
)
from memories.services.drafts import (
    UPDATABLE_FIELDS,
    MemoryDraft,
    _check_content,
    _check_importance,
    _check_metadata,
    _clean_tags,
    _duplicate_of,
    _ensure_allowance,
    _history,
    _prepared,
    _size_bytes,
    _snapshot,
    compose_content,
    content_hash,
)
from memories.services.scheduling import (
    extraction_schedule,
    followups_schedule,
    vector_indexes_drop_schedule,
)

# --- Create, update, delete ----------------------------------------------------------------------


def memory_create(
    *, user: User, draft: MemoryDraft, job_id: uuid.UUID | None = None
) -> tuple[Memory, bool]:
    """Store ``draft`` for ``user``; returns ``(memory, created)``.

    Identical content in the same scope (agent_id, session_id) is not stored twice: the existing
    memory comes back with ``created=False`` (a captured prompt awaiting its response is always
    stored: another tab's same question, or a note that reads the same, is not its exchange).
    Embedding happens in the background after commit.
    ``job_id``: the extraction job that creates it, named in its history.
    """
    values = _prepared(draft)
    if existing := _duplicate_of(user, values):
        return existing, False
    try:
        with transaction.atomic():
            _ensure_allowance(user, adding=1, adding_bytes=values["size_bytes"])
            memory = Memory.objects.create(user=user, **values)
            _history(memory, HistoryEvent.CREATE, old="", new=memory.content, job_id=job_id).save()
    except IntegrityError:
        # A concurrent save of the same content won the race: answer as for a duplicate.
        if existing := _duplicate_of(user, values):
            return existing, False
        raise
    followups_schedule(user_id=user.pk, embed=[memory.pk])
    return memory, True


def memory_capture(
    *, user: User, draft: MemoryDraft, idempotency_key: str | None = None
) -> tuple[Memory, bool]:
    """``memory_create`` for a captured prompt, once per ``idempotency_key``: a request that
    repeats a key (a client retrying after a lost answer) gets the memory the first one made,
    ``created=False``, even after its response was saved and its text changed. The key sent
    again with another capture is a Conflict (``IDEMPOTENCY_KEY_REUSED``), and nothing is stored.
    Requests with the same key wait for each other: the memory and its receipt are written
    together, so concurrent repeats store one memory, never one each."""
    if idempotency_key is None:
        return memory_create(user=user, draft=draft)
    fingerprint = _capture_fingerprint(draft)
    with transaction.atomic():
        transaction_lock("memories.capture", f"{user.pk}:{idempotency_key}")
        receipt = (
            CaptureReceipt.objects.filter(user=user, key=idempotency_key)
            .select_related("memory")
            .first()
        )
        if receipt is not None:
            if receipt.fingerprint not in ("", fingerprint):
                raise Conflict(
                    "This Idempotency-Key came with another capture; use a new key for each.",
                    details={"Idempotency-Key": ["Already used for another capture."]},
                    code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
            return receipt.memory, False
        memory, created = memory_create(user=user, draft=draft)
        CaptureReceipt.objects.create(
            user=user, key=idempotency_key, memory=memory, fingerprint=fingerprint
        )
    return memory, created


def _capture_fingerprint(draft: MemoryDraft) -> str:
    """What identifies a capture's request: its fields as the client sent them."""
    fields = json.dumps(dataclasses.asdict(draft), sort_keys=True, default=str)
    return hashlib.sha256(fields.encode()).hexdigest()


def memory_update(
    *, memory: Memory, changes: dict[str, Any], job_id: uuid.UUID | None = None
) -> Memory:
    """Apply ``changes`` (a subset of UPDATABLE_FIELDS) and record them in the history.

    A content change re-embeds the memory; content identical to another memory in the same
    scope is a Conflict naming it. ``job_id``: the extraction job that makes the change.
    """
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationFailed(
            details={name: ["This field cannot be changed."] for name in unknown}
        )
    return _apply_changes(memory, changes, job_id=job_id)


def memory_response_save(*, memory: Memory, response: str) -> Memory:
    """Complete a captured prompt with the AI's response (and re-embed it).

    Saving the response the memory already has changes nothing.
    """
    if not response.strip():
        raise ValidationFailed(details={"response": ["This field may not be blank."]})
    if not memory.prompt:
        raise ValidationFailed(
            "Only a captured prompt takes a response; change a note with PATCH.",
            details={"response": ["This memory has no prompt."]},
        )
    if response == memory.response:
        return memory
    content = compose_content(memory.prompt, response)
    saved = _apply_changes(memory, {"response": response, "content": content})
    _schedule_extraction(saved)
    return saved


def _schedule_extraction(memory: Memory) -> None:
    """A completed capture is a conversation to extract facts from (when the user wants that)."""
    extraction_schedule(
        user_id=memory.user_id,
        messages=[
            {"role": "user", "content": memory.prompt},
            {"role": "assistant", "content": memory.response},
        ],
        agent_id=memory.agent_id,
        session_id=memory.session_id,
        metadata={"memory_id": str(memory.pk)},
        trigger=JobTrigger.CAPTURE,
    )


def _apply_changes(
    memory: Memory, changes: dict[str, Any], *, event: str = HistoryEvent.UPDATE, **cause: Any
) -> Memory:
    if "tags" in changes:
        changes = {**changes, "tags": _clean_tags(changes["tags"])}
    with transaction.atomic():
        # The owner comes along (duplicate and quota checks need them); only the memory is locked.
        # The memory row is locked before its chunks, as a delete does: no deadlock between them.
        current = _locked(
            Memory.objects.select_for_update(of=("self",)).select_related("user"), memory
        )
        changed = [name for name, value in changes.items() if getattr(current, name) != value]
        if not changed:
            return current
        old_content, old_size = current.content, current.size_bytes
        for name in changed:
            setattr(current, name, changes[name])
        content_changed = "content" in changed
        if content_changed:
            _check_content(current.content)
        if "metadata" in changed:
            _check_metadata(current.metadata)
        _check_importance(current.importance)
        current.content_hash = content_hash(current.content)
        current.size_bytes = _size_bytes(vars(current))
        if duplicate := _duplicate_of(current.user, vars(current), exclude=current.pk):
            raise Conflict(
                "Another memory in this scope has the same content.",
                details={"existing_id": str(duplicate.pk)},
            )
        if current.size_bytes > old_size:
            _ensure_allowance(current.user, adding=0, adding_bytes=current.size_bytes - old_size)
        if content_changed:
            current.embedding_status = EmbeddingStatus.PENDING
            current.embedding_error = ""
            # Vectors always describe the current text: the old ones go now.
            MemoryChunk.objects.filter(memory=current).delete()
        current.save()
        _history(
            current, event, old=old_content, new=current.content, fields=changed, **cause
        ).save()
    followups_schedule(user_id=current.user_id, embed=[current.pk] if content_changed else [])
    return current


def _locked(queryset: QuerySet[Memory], memory: Memory) -> Memory:
    """``memory`` read again under a row lock; NotFound when it was deleted meanwhile (a
    concurrent DELETE won: the request answers as if it came after it)."""
    current = queryset.filter(pk=memory.pk).first()
    if current is None:
        raise NotFound("No memory with this id.")
    return current


def memory_delete(*, memory: Memory, job_id: uuid.UUID | None = None) -> None:
    """Delete ``memory`` and its vectors; the history keeps the event, the old text and a
    snapshot of the rest (a revert can recreate it). ``job_id``: the extraction job deleting it.
    NotFound when a concurrent request deleted it first.
    """
    with transaction.atomic():
        # The row first, then its chunks (the cascade), in the order every other write takes.
        memory = _locked(Memory.objects.select_for_update(), memory)
        _history(
            memory,
            HistoryEvent.DELETE,
            old=memory.content,
            new="",
            job_id=job_id,
            snapshot=_snapshot(memory),
        ).save()
        memory.delete()
    followups_schedule(user_id=memory.user_id)


def memory_revert(*, user: User, memory_id: Any, history_id: Any) -> Memory:
    """Restore ``user``'s memory ``memory_id`` to the content its history entry ``history_id``
    recorded (the text right after that change), as a new ``revert`` entry.

    A memory that was removed since (deleted, or merged into another) is recreated with its
    id and the fields its removal recorded. Only the content is restored on a memory that
    still exists. NotFound for an entry that is not of this memory or not ``user``'s;
    ValidationFailed for an entry that removed the memory (it has no content to restore);
    Conflict when another memory of the scope holds that content.
    """
    entry = get_owned_object(
        MemoryHistory.objects.filter(memory_id=owned_id(memory_id, name="memory")),
        owner=user,
        pk=history_id,
    )
    if not entry.new_content:
        raise ValidationFailed(
            "This entry removed the memory; revert to an entry that has content.",
            details={"history_id": ["This entry has no content to restore."]},
        )
    current = Memory.objects.filter(user=user, pk=entry.memory_id).first()
    if current is not None:
        if current.content == entry.new_content:
            return current
        return _apply_changes(
            current, {"content": entry.new_content}, event=HistoryEvent.REVERT, reverted_to=entry.pk
        )
    return _recreate(user, entry)


def _recreate(user: User, entry: MemoryHistory) -> Memory:
    removal = (
        MemoryHistory.objects.filter(user=user, memory_id=entry.memory_id)
        .exclude(snapshot={})
        .order_by("-created_at")
        .first()
    )
    if removal is None:
        raise Conflict(
            "This memory was removed without a record of its fields; it cannot be restored."
        )
    snapshot = dict(removal.snapshot)
    created_at = datetime.fromisoformat(snapshot.pop("created_at"))
    values = _prepared(MemoryDraft(content=entry.new_content, created_at=created_at, **snapshot))
    if duplicate := _duplicate_of(user, values):
        raise Conflict(
            "Another memory in this scope has the same content.",
            details={"existing_id": str(duplicate.pk)},
        )
    try:
        with transaction.atomic():
            _ensure_allowance(user, adding=1, adding_bytes=values["size_bytes"])
            memory = Memory.objects.create(pk=entry.memory_id, user=user, **values)
            _history(
                memory, HistoryEvent.REVERT, old="", new=memory.content, reverted_to=entry.pk
            ).save()
    except IntegrityError:
        raise Conflict("The memory was restored or changed concurrently; retry.") from None
    followups_schedule(user_id=user.pk, embed=[memory.pk])
    return memory


# The rows that point at a memory, which _delete_memories deletes itself (Django's cascade does
# not run for a delete in SQL): a new one must be added there (memories/tests/test_services.py
# checks this list against the models).
DELETED_WITH_A_MEMORY = (MemoryChunk, CaptureReceipt)


def _delete_memories(user: User, *, created_before: datetime | None = None) -> int:
    """Delete a user's memories (optionally only older ones), their vectors and capture receipts
    in a few statements.

    Django's cascading delete would load every row first; a heavy user has 100k of them.
    """
    where, params = "user_id = %s", [user.pk]
    if created_before is not None:
        where, params = f"{where} AND created_at < %s", [*params, created_before]
    memories = Memory._meta.db_table
    with connection.cursor() as cursor:
        # Their rows locked in id order before any write, as every writer of memories does
        # (SearchGeneration): a write takes the user's search generation, and an embedding run
        # holding one of these rows would wait for it while this waited for the row.
        cursor.execute(f"SELECT 1 FROM {memories} WHERE {where} ORDER BY id FOR UPDATE", params)
        # Memories that stay forget a near duplicate that goes (the foreign key's SET NULL).
        cursor.execute(
            f"UPDATE {memories} SET near_duplicate_of_id = NULL "
            f"WHERE near_duplicate_of_id IN (SELECT id FROM {memories} WHERE {where})",
            params,
        )
        for model in DELETED_WITH_A_MEMORY:
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} "
                f"WHERE memory_id IN (SELECT id FROM {memories} WHERE {where})",
                params,
            )
        cursor.execute(f"DELETE FROM {memories} WHERE {where}", params)
        return cursor.rowcount


def memories_delete_all(*, user: User) -> int:
    """Delete every memory of ``user``, their vectors, history and summary; returns the count.

    A user who asks for everything gone gets everything gone: the history goes too.
    """
    with transaction.atomic():
        deleted = _delete_memories(user)
        MemoryHistory.objects.filter(user=user).delete()
        MemorySummary.objects.filter(user=user).delete()
    transaction.on_commit(lambda: vector_indexes_drop_schedule(user_id=user.pk))
    return deleted


def memories_prune(*, user: User, before: datetime, dry_run: bool = False) -> int:
    """Delete ``user``'s memories created before ``before`` (operator retention); their history
    goes with them. With ``dry_run`` only counts."""
    if dry_run:
        return Memory.objects.filter(user=user, created_at__lt=before).count()
    with transaction.atomic():
        ids = list(
            Memory.objects.filter(user=user, created_at__lt=before).values_list("pk", flat=True)
        )
        MemoryHistory.objects.filter(user=user, memory_id__in=ids).delete()
        deleted = _delete_memories(user, created_before=before)
    followups_schedule(user_id=user.pk)
    return deleted


def thread_detach(*, user_id: Any, thread_id: Any) -> int:
    """The chat thread ``thread_id`` is going away: its memories stay, no longer naming it.
    Returns how many memories named it."""
    return Memory.objects.filter(user_id=user_id, thread_id=thread_id).update(thread_id=None)
