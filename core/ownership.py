"""Every object a user owns is fetched through its owner.

Another user's object, a missing one and a malformed id all look the same from outside: 404.
Never a 403 that would confirm the object exists.
"""

import uuid
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from core.errors import NotFound

M = TypeVar("M", bound=Model)


def owned_id(value: Any, *, name: str) -> uuid.UUID:
    """``value`` as a UUID; a malformed id is a 404 like a missing one, never a 400 or a 500."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"No {name} with this id.") from None


def get_owned_object(queryset: QuerySet[M], *, owner: Any, pk: Any, owner_field: str = "user") -> M:
    """Return the object ``pk`` of ``owner`` from ``queryset``, or raise NotFound."""
    name = queryset.model._meta.verbose_name
    obj = queryset.filter(**{owner_field: owner, "pk": owned_id(pk, name=name)}).first()
    if obj is None:
        raise NotFound(f"No {name} with this id.")
    return obj
