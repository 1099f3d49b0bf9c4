"""Many memories at once: the bulk endpoint and imports."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from core.errors import Conflict, PayloadTooLarge, ValidationFailed
from memories.models import (
    HistoryEvent,
    Memory,
    MemoryHistory,
)
from memories.services.drafts import (
    BULK_MAX_ITEMS,
    BulkItemResult,
    MemoryDraft,
    _ensure_allowance,
    _history,
    _prepared,
    _too_large,
)
from memories.services.scheduling import followups_schedule

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
    followups_schedule(user_id=user.pk, embed=[memory.pk for memory in fresh.values()])
    return results
