"""The filters a list or a search of memories takes, and their SQL (a Q): shared by the reads in
selectors/ and the search engine in search/."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from core.errors import ValidationFailed


@dataclass(frozen=True)
class MemoryFilters:
    provider: str | None = None
    source: str | None = None
    tags: Sequence[str] = ()
    agent_id: str | None = None
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # True: only captured exchanges (a prompt, and its response); False: none of them.
    captured: bool | None = None


def memory_filter_q(filters: MemoryFilters) -> Q:
    """The filters as one Q: every given filter must hold; ``tags`` must all be present;
    ``metadata`` keys must equal the given scalars."""
    q = Q()
    for name in ("provider", "source", "agent_id", "session_id"):
        if (value := getattr(filters, name)) is not None:
            q &= Q(**{name: value})
    if filters.captured is not None:
        q &= ~Q(prompt="") if filters.captured else Q(prompt="")
    if filters.tags:
        q &= Q(tags__contains=list(filters.tags))
    if filters.since is not None:
        q &= Q(created_at__gte=filters.since)
    if filters.until is not None:
        q &= Q(created_at__lt=filters.until)
    for key, value in filters.metadata.items():
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise ValidationFailed(
                details={"filters": {"metadata": {key: ["Only scalar values can be matched."]}}}
            )
        q &= Q(metadata__contains={key: value})
    return q
