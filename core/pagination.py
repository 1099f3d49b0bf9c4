"""Keyset (cursor) pagination: stable under inserts, constant cost at any depth.

A cursor is a token encoding the sort key and id of the last row served (clients pass it back
as they got it). A malformed cursor is a 400, never a 500.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet
from rest_framework import serializers

from core.errors import ValidationFailed

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


# A cursor is the position (microseconds since the epoch) and the id of the last row served.
# Every text the pattern matches decodes (17 digits stop before datetime's year 9999), so the
# schema's pattern is the whole rule: a schema-valid cursor is never refused.
CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9a-f]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(moment: datetime) -> int:
    """``moment`` as whole microseconds since the epoch: a cursor's text for a time."""
    return (moment - _EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def _encode(position: datetime, pk: uuid.UUID) -> str:
    return f"{epoch_micros(position)}-{pk.hex}"


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ValidationFailed(
            "The cursor is not valid.", details={"cursor": ["Malformed cursor."]}
        )
    micros, pk = cursor.split("-")
    return from_epoch_micros(int(micros)), uuid.UUID(pk)


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
    # Not trimmed: "\n" is no cursor, and is refused as the schema says.
    cursor = serializers.RegexField(
        CURSOR_PATTERN, required=False, allow_blank=True, max_length=51, trim_whitespace=False
    )


def page_body(page: Page, serializer_class: type[serializers.Serializer]) -> dict:
    """The body of every cursor-paginated list response."""
    return {
        "results": serializer_class(page.items, many=True).data,
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
