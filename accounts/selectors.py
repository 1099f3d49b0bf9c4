from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiKey, Persona, ProviderKey, User
from core.ownership import get_owned_object


def api_keys_of(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def provider_keys_of(user: User) -> QuerySet[ProviderKey]:
    return ProviderKey.objects.filter(user=user).order_by("provider")


def personas_of(user: User) -> QuerySet[Persona]:
    return Persona.objects.filter(user=user)


def persona_get(user: User, persona_id) -> Persona:
    return get_owned_object(Persona.objects.all(), owner=user, pk=persona_id)


def persona_by_name_or_id(user: User, reference: str) -> Persona:
    """A persona of ``user`` named by its name or its id (NotFound when neither matches)."""
    found = Persona.objects.filter(user=user, name=reference).first()
    return found or persona_get(user, reference)


def active_user(user_id: Any) -> User | None:
    """The active user ``user_id``, or None (deactivated or gone since)."""
    return User.objects.filter(pk=user_id, is_active=True).first()
