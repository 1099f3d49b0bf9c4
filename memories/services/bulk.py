"""Many memories at once: the bulk endpoint and imports."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from core.db import copy_insert
from core.errors import Conflict, PayloadTooLarge, ValidationFailed
from memories.models import (
    FOLDED_BY_CONTENT,
    HistoryEvent,
    Memory,
    MemoryHistory,
)
from memories.services.drafts import (
    BULK_MAX_ITEMS,
    BulkItemResult,
    MemoryDraft,
    _awaits_response,
    _ensure_allowance,
    _history,
    _prepared,
    _too_large,
    compose_content,
)
from memories.services.records import memory_create
from memories.services.scheduling import followups_schedule

# --- Bulk and import -----------------------------------------------------------------------------


def memories_bulk_create(*, user: User, drafts: Sequence[MemoryDraft]) -> list[BulkItemResult]:
    """Store up to BULK_MAX_ITEMS drafts in one transaction; all or nothing.

    Errors are reported per item by index (``details.items``). Items whose text is the same after
    normalisation as a stored memory's or an earlier item's (same scope) are folded into it: they
    come back with ``created=False`` and that memory.
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
    # The memory each folded item was folded into, in item order.
    folded_into: list[Any]

    @classmethod
    def of(cls, results: Sequence[BulkItemResult]) -> "ImportResult":
        folded = [result.memory.pk for result in results if not result.created]
        return cls(created=len(results) - len(folded), duplicates=len(folded), folded_into=folded)


def memories_import(*, user: User, drafts: Sequence[MemoryDraft]) -> ImportResult:
    """Store the memories of an export file (any number, one transaction). Items whose text is
    the same after normalisation as a stored one's (or an earlier item's) are folded into it."""
    return ImportResult.of(_insert_many(user, drafts))


def memory_create_in_parts(*, user: User, draft: MemoryDraft) -> list[Memory]:
    """Store ``draft`` as one memory (``memory_create``), or, when its text is longer than
    MEMORY_MAX_CONTENT_CHARS, as consecutive memories of at most that many characters (split at
    whitespace where it can be) whose contents joined are the text; each part's metadata has
    ``part`` and ``parts``. All parts or none are stored."""
    content = draft.content or compose_content(draft.prompt, draft.response)
    limit = settings.MEMORY_MAX_CONTENT_CHARS
    if len(content) <= limit:
        return [memory_create(user=user, draft=draft)[0]]
    pieces = _split(content, limit)
    drafts = [
        replace(
            draft,
            content=piece,
            prompt="",
            response="",
            metadata={**draft.metadata, "part": number, "parts": len(pieces)},
        )
        for number, piece in enumerate(pieces, start=1)
    ]
    return [result.memory for result in _insert_many(user, drafts)]


def _split(text: str, limit: int) -> list[str]:
    pieces = []
    while len(text) > limit:
        # The last whitespace in the second half of the window, else a cut at the limit.
        cut = max(text.rfind(" ", limit // 2, limit), text.rfind("\n", limit // 2, limit))
        cut = cut + 1 if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text] if text else pieces


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

    def key(index: int, values: dict[str, Any]) -> tuple[str, str, str, int]:
        # An item folds into a stored memory, or an earlier item, of the same text and scope;
        # a prompt awaiting its response into none (its own index keeps it apart).
        unique = index if _awaits_response(values) else -1
        return values["agent_id"], values["session_id"], values["content_hash"], unique

    with transaction.atomic():
        stored = {
            key(-1, vars(memory)): memory
            for memory in Memory.objects.filter(
                FOLDED_BY_CONTENT,
                user=user,
                content_hash__in={values["content_hash"] for values in prepared},
            )
        }
        fresh: dict[tuple[str, str, str, int], Memory] = {}
        for index, values in enumerate(prepared):
            if key(index, values) not in stored and key(index, values) not in fresh:
                fresh[key(index, values)] = Memory(user=user, **values)
        _ensure_allowance(
            user,
            adding=len(fresh),
            adding_bytes=sum(memory.size_bytes for memory in fresh.values()),
        )
        try:
            with transaction.atomic():
                copy_insert(Memory, list(fresh.values()))
        except IntegrityError:
            raise Conflict("A concurrent request stored some of these memories; retry.") from None
        copy_insert(
            MemoryHistory,
            [
                _history(memory, HistoryEvent.CREATE, old="", new=memory.content)
                for memory in fresh.values()
            ],
        )
    results = []
    seen: set[tuple[str, str, str, int]] = set()
    for index, values in enumerate(prepared):
        item_key = key(index, values)
        created = item_key in fresh and item_key not in seen
        seen.add(item_key)
        results.append(BulkItemResult(index, stored.get(item_key) or fresh[item_key], created))
    followups_schedule(user_id=user.pk, embed=[memory.pk for memory in fresh.values()])
    return results
