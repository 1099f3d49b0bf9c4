"""Every write to memories: capture, update, delete, bulk and import, embedding, vector indexes.

Services validate, write inside their own transaction, and schedule side effects (embedding,
the summary) with ``transaction.on_commit`` so no task ever sees uncommitted rows.
"""

import hashlib
import json
import logging
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from psycopg import sql

from accounts.models import User
from billing.tiers import allowance
from core.errors import Conflict, NotFound, PayloadTooLarge, QuotaExceeded, ValidationFailed
from core.ownership import get_owned_object
from memories import summary
from memories.chunking import chunk_spans
from memories.models import (
    EmbeddingStatus,
    HistoryEvent,
    IndexStatus,
    JobTrigger,
    Memory,
    MemoryChunk,
    MemoryHistory,
    MemorySummary,
    Provider,
    Source,
    UserVectorIndex,
)
from memories.selectors import memory_near_duplicate, memory_summary_facts
from providers.embeddings import Embedder, get_embedder

logger = logging.getLogger(__name__)

BULK_MAX_ITEMS = 500
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


def content_hash(content: str) -> str:
    """Identity of a memory's text for deduplication: NFC-normalised, outer whitespace ignored."""
    return hashlib.sha256(unicodedata.normalize("NFC", content.strip()).encode()).hexdigest()


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
    return list(seen)


def _check_content(content: str) -> None:
    if not content.strip():
        raise ValidationFailed(
            "A memory needs some text.", details={"content": ["This field may not be blank."]}
        )
    limit = settings.MEMORY_MAX_CONTENT_CHARS
    if len(content) > limit:
        raise _too_large(limit, length=len(content))


def _check_importance(importance: float) -> None:
    if not 0 <= importance <= 1:
        raise ValidationFailed(details={"importance": ["Must be between 0 and 1."]})


def _prepared(draft: MemoryDraft) -> dict[str, Any]:
    """Model field values for ``draft``; raises ValidationFailed or PayloadTooLarge."""
    content = draft.content or compose_content(draft.prompt, draft.response)
    _check_content(content)
    _check_importance(draft.importance)
    values = {
        "content": content,
        "prompt": draft.prompt,
        "response": draft.response,
        "title": draft.title,
        "provider": draft.provider,
        "source": draft.source,
        "source_url": draft.source_url,
        "tags": _clean_tags(draft.tags),
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
    limited = [
        feature
        for feature in ("memories", "memory_storage_bytes")
        if allowance(user, feature, used=0, adding=0).limit is not None
    ]
    if not limited:
        return
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


def _after_commit(user_id: uuid.UUID, *, embed: Sequence[uuid.UUID] = ()) -> None:
    """Once the caller's transaction commits: embed ``embed`` and refresh the summary."""
    ids = [str(pk) for pk in embed]
    transaction.on_commit(lambda: _enqueue_embedding(ids))
    transaction.on_commit(lambda: summary_schedule(user_id=user_id))


def _enqueue_embedding(memory_ids: list[str]) -> None:
    from memories.tasks import embed_memories

    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(memory_ids), size):
        embed_memories.delay(memory_ids[start : start + size])


def _duplicate_of(user: User, values: dict[str, Any], *, exclude: Any = None) -> Memory | None:
    queryset = Memory.objects.filter(
        user=user,
        agent_id=values["agent_id"],
        session_id=values["session_id"],
        content_hash=values["content_hash"],
    )
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.first()


# --- Create, update, delete ----------------------------------------------------------------------


def memory_create(
    *, user: User, draft: MemoryDraft, job_id: uuid.UUID | None = None
) -> tuple[Memory, bool]:
    """Store ``draft`` for ``user``; returns ``(memory, created)``.

    Identical content in the same scope (agent_id, session_id) is not stored twice: the existing
    memory comes back with ``created=False``. Embedding happens in the background after commit.
    ``job_id``: the extraction job that creates it, named in its history.
    """
    values = _prepared(draft)
    if existing := _duplicate_of(user, values):
        return existing, False
    _ensure_allowance(user, adding=1, adding_bytes=values["size_bytes"])
    try:
        with transaction.atomic():
            memory = Memory.objects.create(user=user, **values)
            _history(memory, HistoryEvent.CREATE, old="", new=memory.content, job_id=job_id).save()
    except IntegrityError:
        # A concurrent save of the same content won the race: answer as for a duplicate.
        if existing := _duplicate_of(user, values):
            return existing, False
        raise
    _after_commit(user.pk, embed=[memory.pk])
    return memory, True


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
    from memories.extraction import extraction_schedule

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
        current = (
            Memory.objects.select_for_update(of=("self",)).select_related("user").get(pk=memory.pk)
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
        _check_importance(current.importance)
        current.content_hash = content_hash(current.content)
        current.size_bytes = _size_bytes(vars(current))
        scope = {
            "agent_id": current.agent_id,
            "session_id": current.session_id,
            "content_hash": current.content_hash,
        }
        if duplicate := _duplicate_of(current.user, scope, exclude=current.pk):
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
    _after_commit(current.user_id, embed=[current.pk] if content_changed else [])
    return current


def memory_delete(*, memory: Memory, job_id: uuid.UUID | None = None) -> None:
    """Delete ``memory`` and its vectors; the history keeps the event, the old text and a
    snapshot of the rest (a revert can recreate it). ``job_id``: the extraction job deleting it.
    """
    with transaction.atomic():
        _history(
            memory,
            HistoryEvent.DELETE,
            old=memory.content,
            new="",
            job_id=job_id,
            snapshot=_snapshot(memory),
        ).save()
        memory.delete()
    _after_commit(memory.user_id)


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
        MemoryHistory.objects.filter(memory_id=_uuid_or_404(memory_id, "memory")),
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


def _uuid_or_404(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"No {name} with this id.") from None


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
    _ensure_allowance(user, adding=1, adding_bytes=values["size_bytes"])
    try:
        with transaction.atomic():
            memory = Memory.objects.create(pk=entry.memory_id, user=user, **values)
            _history(
                memory, HistoryEvent.REVERT, old="", new=memory.content, reverted_to=entry.pk
            ).save()
    except IntegrityError:
        raise Conflict("The memory was restored or changed concurrently; retry.") from None
    _after_commit(user.pk, embed=[memory.pk])
    return memory


def _delete_memories(user: User, *, created_before: datetime | None = None) -> int:
    """Delete a user's memories (optionally only older ones) and their vectors in two statements.

    Django's cascading delete would load every row first; a heavy user has 100k of them.
    """
    where, params = "user_id = %s", [user.pk]
    if created_before is not None:
        where, params = f"{where} AND created_at < %s", [*params, created_before]
    memories, chunks = Memory._meta.db_table, MemoryChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {chunks} WHERE memory_id IN (SELECT id FROM {memories} WHERE {where})",
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
    transaction.on_commit(lambda: _enqueue_index_drop(user.pk))
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
    _after_commit(user.pk)
    return deleted


# --- Bulk and import -----------------------------------------------------------------------------


def memories_bulk_create(*, user: User, drafts: Sequence[MemoryDraft]) -> list[BulkItemResult]:
    """Store up to BULK_MAX_ITEMS drafts in one transaction; all or nothing.

    Errors are reported per item by index (``details.items``). Duplicates, of stored memories or
    within the batch, come back with ``created=False`` and the existing memory.
    """
    if len(drafts) > BULK_MAX_ITEMS:
        raise ValidationFailed(
            f"At most {BULK_MAX_ITEMS} memories per request.",
            details={"items": [f"Ensure this list has at most {BULK_MAX_ITEMS} items."]},
        )
    return _insert_many(user, drafts)


@dataclass(frozen=True)
class ImportResult:
    created: int
    duplicates: int


def memories_import(*, user: User, drafts: Sequence[MemoryDraft]) -> ImportResult:
    """Store the memories of an export file (any number, one transaction; duplicates skipped)."""
    results = _insert_many(user, drafts)
    created = sum(1 for result in results if result.created)
    return ImportResult(created=created, duplicates=len(results) - created)


def _insert_many(user: User, drafts: Sequence[MemoryDraft]) -> list[BulkItemResult]:
    prepared: list[dict[str, Any]] = []
    errors: dict[str, Any] = {}
    too_large: dict[str, Any] = {}
    for index, draft in enumerate(drafts):
        try:
            prepared.append(_prepared(draft))
        except PayloadTooLarge as exc:
            too_large[str(index)] = exc.details
        except ValidationFailed as exc:
            errors[str(index)] = exc.details
    limit = settings.MEMORY_MAX_CONTENT_CHARS
    if too_large:
        raise _too_large(limit, items=too_large)
    if errors:
        raise ValidationFailed("Some items are not valid.", details={"items": errors})

    def key(values: dict[str, Any]) -> tuple[str, str, str]:
        return values["agent_id"], values["session_id"], values["content_hash"]

    with transaction.atomic():
        stored = {
            key(vars(memory)): memory
            for memory in Memory.objects.filter(
                user=user, content_hash__in={values["content_hash"] for values in prepared}
            )
        }
        fresh: dict[tuple[str, str, str], Memory] = {}
        for values in prepared:
            if key(values) not in stored and key(values) not in fresh:
                fresh[key(values)] = Memory(user=user, **values)
        _ensure_allowance(
            user,
            adding=len(fresh),
            adding_bytes=sum(memory.size_bytes for memory in fresh.values()),
        )
        try:
            with transaction.atomic():
                Memory.objects.bulk_create(fresh.values())
        except IntegrityError:
            raise Conflict("A concurrent request stored some of these memories; retry.") from None
        MemoryHistory.objects.bulk_create(
            _history(memory, HistoryEvent.CREATE, old="", new=memory.content)
            for memory in fresh.values()
        )
    results = []
    seen: set[tuple[str, str, str]] = set()
    for index, values in enumerate(prepared):
        item_key = key(values)
        created = item_key in fresh and item_key not in seen
        seen.add(item_key)
        results.append(BulkItemResult(index, stored.get(item_key) or fresh[item_key], created))
    _after_commit(user.pk, embed=[memory.pk for memory in fresh.values()])
    return results


# --- Embedding -----------------------------------------------------------------------------------


def _needs_embedding(model: str, *, retry_failed: bool) -> Q:
    statuses = [EmbeddingStatus.PENDING]
    if retry_failed:
        statuses.append(EmbeddingStatus.FAILED)
    return Q(embedding_status__in=statuses) | ~Q(embedding_model=model)


def memories_embed(
    *,
    memory_ids: Sequence[Any],
    embedder: Embedder | None = None,
    retry_failed: bool = False,
) -> int:
    """Embed those of ``memory_ids`` that still need it with ``embedder``; returns how many.

    Safe to run twice and against concurrent edits: rows are re-checked under a lock before the
    write, and a memory whose content changed since it was read keeps its newer state (the edit
    enqueued its own embedding). Embedder errors propagate (the task retries them).

    A memory embedded for the first time whose vector is nearly identical to one already there
    (same user and scope) is then merged into it (``memory_merge_near_duplicate``).
    """
    embedder = embedder or get_embedder()
    wanted = _needs_embedding(embedder.name, retry_failed=retry_failed)
    rows = list(
        Memory.objects.filter(wanted, pk__in=memory_ids).values(
            "pk", "user_id", "content", "content_hash", "embedded_at", "created_at"
        )
    )
    if not rows:
        return 0
    plans = []
    texts: list[str] = []
    for row in rows:
        content = row["content"]
        spans = chunk_spans(
            embedder.token_spans(content),
            len(content),
            max_tokens=min(settings.MEMORY_CHUNK_TOKENS, embedder.max_tokens - 2),
            overlap=settings.MEMORY_CHUNK_OVERLAP_TOKENS,
        )
        plans.append((row, spans, len(texts)))
        texts.extend(content[start:end] for start, end in spans)
    vectors = embedder.embed(texts)

    with transaction.atomic():
        current = dict(
            Memory.objects.select_for_update()
            .filter(wanted, pk__in=[row["pk"] for row in rows])
            .values_list("pk", "content_hash")
        )
        fresh = [plan for plan in plans if current.get(plan[0]["pk"]) == plan[0]["content_hash"]]
        fresh_ids = [row["pk"] for row, _, _ in fresh]
        MemoryChunk.objects.filter(memory_id__in=fresh_ids, model=embedder.name).delete()
        MemoryChunk.objects.bulk_create(
            MemoryChunk(
                memory_id=row["pk"],
                user_id=row["user_id"],
                model=embedder.name,
                position=position,
                start=start,
                end=end,
                embedding=vectors[offset + position],
            )
            for row, spans, offset in fresh
            for position, (start, end) in enumerate(spans)
        )
        Memory.objects.filter(pk__in=fresh_ids).update(
            embedding_status=EmbeddingStatus.READY,
            embedding_model=embedder.name,
            embedding_error="",
            embedded_at=timezone.now(),
        )
        user_ids = {row["user_id"] for row, _, _ in fresh}
        transaction.on_commit(lambda: vector_indexes_ensure(user_ids=user_ids, model=embedder.name))
    # Newest first, so that of two near-duplicates embedded together the newer one merges into
    # the older. Only single-chunk memories: one vector stands for the whole text.
    newcomers = sorted(
        (row for row, spans, _ in fresh if row["embedded_at"] is None and len(spans) == 1),
        key=lambda row: (row["created_at"], str(row["pk"])),
        reverse=True,
    )
    offsets = {row["pk"]: offset for row, _, offset in fresh}
    for row in newcomers:
        memory_merge_near_duplicate(
            memory_id=row["pk"], vector=vectors[offsets[row["pk"]]], model=embedder.name
        )
    return len(fresh)


def memory_merge_near_duplicate(
    *, memory_id: Any, vector: Sequence[float], model: str
) -> Memory | None:
    """Merge the memory ``memory_id``, just embedded as ``vector``, into the memory of the same
    user and scope whose vector is at least MEMORY_DEDUP_THRESHOLD cosine-similar to it, if
    there is one; returns the memory it was merged into, or None.

    The survivor keeps its text and id; it takes the higher importance and the union of the
    tags, and its ``updated_at`` is refreshed. The duplicate is deleted. Both get a ``merge``
    history entry naming the other (the duplicate's with a snapshot, so a revert can bring it
    back): whoever created the duplicate finds in its history where it went.
    A captured prompt still waiting for its response is never merged, nor merged into; a
    memory a revert brought back is not merged again.
    """
    threshold = settings.MEMORY_DEDUP_THRESHOLD
    if threshold > 1:
        return None
    memory = Memory.objects.select_related("user").filter(pk=memory_id).first()
    if memory is None or _awaits_response(memory):
        return None
    survivor_id = memory_near_duplicate(
        memory=memory, vector=vector, model=model, threshold=threshold
    )
    reverted = MemoryHistory.objects.filter(memory_id=memory.pk, event=HistoryEvent.REVERT)
    if survivor_id is None or reverted.exists():
        return None
    with transaction.atomic():
        # Both rows locked in one order: two merges of the same pair cannot deadlock.
        locked = {
            row.pk: row
            for row in Memory.objects.select_for_update()
            .filter(pk__in=[memory.pk, survivor_id])
            .order_by("pk")
        }
        duplicate, survivor = locked.get(memory.pk), locked.get(survivor_id)
        if duplicate is None or survivor is None or duplicate.content_hash != memory.content_hash:
            return None  # deleted or edited meanwhile: the vector no longer says anything
        changed = []
        if duplicate.importance > survivor.importance:
            survivor.importance = duplicate.importance
            changed.append("importance")
        tags = _clean_tags([*survivor.tags, *duplicate.tags])
        if tags != survivor.tags:
            survivor.tags = tags
            changed.append("tags")
        survivor.save()  # updated_at moves even when nothing else changed
        MemoryHistory.objects.bulk_create(
            [
                _history(
                    survivor,
                    HistoryEvent.MERGE,
                    old=survivor.content,
                    new=survivor.content,
                    fields=changed,
                    related_memory_id=duplicate.pk,
                ),
                _history(
                    duplicate,
                    HistoryEvent.MERGE,
                    old=duplicate.content,
                    new="",
                    related_memory_id=survivor.pk,
                    snapshot=_snapshot(duplicate),
                ),
            ]
        )
        duplicate.delete()
    _after_commit(survivor.user_id)
    return survivor


def _awaits_response(memory: Memory) -> bool:
    return bool(memory.prompt) and not memory.response


def memories_mark_failed(*, memory_ids: Sequence[Any], reason: str) -> int:
    """Mark the still-pending ``memory_ids`` as failed with ``reason``; returns how many."""
    return Memory.objects.filter(
        pk__in=memory_ids, embedding_status=EmbeddingStatus.PENDING
    ).update(embedding_status=EmbeddingStatus.FAILED, embedding_error=reason[:2000])


def memories_requeue(*, memory_ids: Sequence[Any]) -> int:
    """Mark ``memory_ids`` pending and embed them again (the admin's re-embed action)."""
    ids = list(Memory.objects.filter(pk__in=memory_ids).values_list("pk", flat=True))
    with transaction.atomic():
        count = Memory.objects.filter(pk__in=ids).update(
            embedding_status=EmbeddingStatus.PENDING, embedding_error=""
        )
        transaction.on_commit(lambda: _enqueue_embedding([str(pk) for pk in ids]))
    return count


def memories_reembed_batch(
    *, embedder: Embedder, after: uuid.UUID | None, batch_size: int
) -> tuple[int, uuid.UUID | None]:
    """Embed the next ``batch_size`` memories (by id, after ``after``) lacking ``embedder``'s
    vectors; returns ``(embedded, last id seen)``, the id ``None`` when none are left.

    The work left is read from the database each time, so a crashed run resumes where it was.
    """
    queryset = Memory.objects.filter(_needs_embedding(embedder.name, retry_failed=True))
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0, None
    return memories_embed(memory_ids=ids, embedder=embedder, retry_failed=True), ids[-1]


def chunks_drop_other_models(*, keep_model: str) -> int:
    """Delete vectors and per-user indexes of every model but ``keep_model`` (after a switch)."""
    for index in UserVectorIndex.objects.exclude(model=keep_model):
        vector_index_drop(index=index)
    return MemoryChunk.objects.exclude(model=keep_model).delete()[0]


# --- Per-user HNSW indexes -----------------------------------------------------------------------


def vector_index_name(user_id: uuid.UUID, model: str) -> str:
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"memories_hnsw_{uuid.UUID(str(user_id)).hex}_{digest}"[:63]


def vector_indexes_ensure(*, user_ids: Iterable[Any], model: str) -> list[int]:
    """Start building a per-user HNSW index for each of ``user_ids`` whose vectors of ``model``
    reached MEMORY_HNSW_USER_THRESHOLD; returns the ids of the index records created."""
    from memories.tasks import build_vector_index

    created = []
    for user_id in user_ids:
        if UserVectorIndex.objects.filter(user_id=user_id, model=model).exists():
            continue
        rows = MemoryChunk.objects.filter(user_id=user_id, model=model).count()
        if rows < settings.MEMORY_HNSW_USER_THRESHOLD:
            continue
        index, was_created = UserVectorIndex.objects.get_or_create(
            user_id=user_id,
            model=model,
            defaults={
                "name": vector_index_name(user_id, model),
                "dimensions": settings.EMBEDDING_DIMENSIONS,
                "status": IndexStatus.BUILDING,
                "rows": rows,
            },
        )
        if was_created:
            created.append(index.pk)
            transaction.on_commit(lambda pk=index.pk: build_vector_index.delay(pk))
    return created


def text_index_name(user_id: uuid.UUID) -> str:
    return f"memories_gin_{uuid.UUID(str(user_id)).hex}"


def _index_ddl(index: UserVectorIndex, *, concurrently: bool) -> list[sql.Composed]:
    """The user's partial HNSW index over their chunks of one model, and their partial GIN
    index over their memories' text (shared by all models)."""
    options = {
        "concurrently": sql.SQL("CONCURRENTLY" if concurrently else ""),
        "user": sql.Literal(str(index.user_id)),
    }
    return [
        sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON {table} USING hnsw "
            "((embedding::vector({dims})) vector_cosine_ops) "
            "WITH (m = 16, ef_construction = {ef_construction}) "
            "WHERE user_id = {user} AND model = {model}"
        ).format(
            name=sql.Identifier(index.name),
            table=sql.Identifier(MemoryChunk._meta.db_table),
            dims=sql.Literal(index.dimensions),
            ef_construction=sql.Literal(settings.MEMORY_HNSW_EF_CONSTRUCTION),
            model=sql.Literal(index.model),
            **options,
        ),
        sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON {table} USING gin "
            "(search_vector) WHERE user_id = {user}"
        ).format(
            name=sql.Identifier(text_index_name(index.user_id)),
            table=sql.Identifier(Memory._meta.db_table),
            **options,
        ),
    ]


def vector_index_build(*, index_id: int) -> bool:
    """Build the partial HNSW index ``index_id`` describes; True once it is ready.

    Built CONCURRENTLY (writes go on) unless the caller holds a transaction, where PostgreSQL
    forbids it. A failed build leaves no invalid index behind and is marked failed.
    """
    index = UserVectorIndex.objects.filter(pk=index_id).first()
    if index is None or index.status == IndexStatus.READY:
        return index is not None
    concurrently = not connection.in_atomic_block
    try:
        # Inside a caller's transaction: a savepoint, so a failure leaves it usable.
        savepoint = transaction.atomic() if not concurrently else nullcontext()
        with savepoint, connection.cursor() as cursor:
            if not concurrently:
                # Deferred foreign-key checks of the same transaction would block the DDL.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET maintenance_work_mem = '256MB'")
            try:
                for ddl in _index_ddl(index, concurrently=concurrently):
                    cursor.execute(ddl.as_string(cursor.cursor))
            finally:
                cursor.execute("RESET maintenance_work_mem")
    except DatabaseError as exc:
        logger.exception("Building vector index %s failed", index.name)
        if concurrently:  # CONCURRENTLY leaves an invalid index behind
            _drop_index_ddl(index.name)
            _drop_index_ddl(text_index_name(index.user_id))
        UserVectorIndex.objects.filter(pk=index.pk).update(
            status=IndexStatus.FAILED, error=str(exc)[:2000]
        )
        return False
    rows = MemoryChunk.objects.filter(user_id=index.user_id, model=index.model).count()
    UserVectorIndex.objects.filter(pk=index.pk).update(
        status=IndexStatus.READY, rows=rows, error=""
    )
    return True


def _drop_index_ddl(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)).as_string(cursor.cursor)
        )


def vector_index_drop(*, index: UserVectorIndex) -> None:
    """Drop a per-user index and its record (and the user's text index with their last one)."""
    _drop_index_ddl(index.name)
    index.delete()
    if not UserVectorIndex.objects.filter(user_id=index.user_id).exists():
        _drop_index_ddl(text_index_name(index.user_id))


def _enqueue_index_drop(user_id: uuid.UUID) -> None:
    from memories.tasks import drop_vector_indexes

    if UserVectorIndex.objects.filter(user_id=user_id).exists():
        drop_vector_indexes.delay(str(user_id))


def vector_indexes_drop_for_user(*, user_id: Any) -> int:
    indexes = list(UserVectorIndex.objects.filter(user_id=user_id))
    for index in indexes:
        vector_index_drop(index=index)
    return len(indexes)


# --- Summary -------------------------------------------------------------------------------------


def _summary_pending_key(user_id: Any) -> str:
    return f"memories:summary-pending:{user_id}"


def summary_schedule(*, user_id: Any) -> None:
    """Mark the summary stale and recompute it after MEMORY_SUMMARY_DELAY_SECONDS; changes in
    between share one recomputation."""
    from memories.tasks import refresh_summary

    MemorySummary.objects.filter(user_id=user_id, stale=False).update(stale=True)
    delay = settings.MEMORY_SUMMARY_DELAY_SECONDS
    if cache.add(_summary_pending_key(user_id), 1, timeout=delay + 300):
        refresh_summary.apply_async(args=[str(user_id)], countdown=delay)


def summary_refresh(*, user: User) -> MemorySummary:
    """Recompute and store ``user``'s summary now."""
    cache.delete(_summary_pending_key(user.pk))
    facts = memory_summary_facts(user=user)
    generated = summary.generate(facts)
    stored, _ = MemorySummary.objects.update_or_create(
        user=user,
        defaults={
            "text": generated.text,
            "facts": facts,
            "generator": generated.generator,
            "memory_count": facts["memory_count"],
            "stale": False,
            "computed_at": timezone.now(),
        },
    )
    return stored
