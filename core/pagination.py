"""Keyset (cursor) pagination: stable under inserts, constant cost at any depth.

A cursor is an opaque token encoding the sort key and id of the last row served. A malformed
or tampered cursor is a 400, never a 500.
"""

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet
from rest_framework import serializers

from core.errors import ValidationFailed
from core.parsers import json_loads

M = TypeVar("M", bound=Model)
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _encode(position: datetime, pk: uuid.UUID) -> str:
    raw = json.dumps([position.isoformat(), str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position, pk = json_loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(position), uuid.UUID(pk)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed(
            "The cursor is not valid.", details={"cursor": ["Malformed cursor."]}
        ) from None


def paginate(
    queryset: QuerySet[M],
    *,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    order_field: str = "created_at",
    descending: bool = True,
) -> Page[M]:
    """Serve ``limit`` rows after ``cursor``, ordered by ``order_field`` then id."""
    if cursor:
        position, pk = _decode(cursor)
        after = "lt" if descending else "gt"
        queryset = queryset.filter(
            Q(**{f"{order_field}__{after}": position})
            | Q(**{order_field: position, f"pk__{after}": pk})
        )
    sign = "-" if descending else ""
    rows = list(queryset.order_by(f"{sign}{order_field}", f"{sign}pk")[: limit + 1])
    items = rows[:limit]
    next_cursor = (
        _encode(getattr(items[-1], order_field), items[-1].pk) if len(rows) > limit else None
    )
    return Page(items=items, next_cursor=next_cursor)


class PageQuerySerializer(serializers.Serializer):
    """The query parameters of every cursor-paginated list: ``limit`` (1..100) and ``cursor``."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=512)


def page_body(page: Page, serializer_class: type[serializers.Serializer]) -> dict:
    """The body of every cursor-paginated list response."""
    return {
        "results": serializer_class(page.items, many=True).data,
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
