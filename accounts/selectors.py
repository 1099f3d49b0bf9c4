from django.db.models import QuerySet

from accounts.models import ApiKey, ProviderKey, User


def api_keys_of(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def provider_keys_of(user: User) -> QuerySet[ProviderKey]:
    return ProviderKey.objects.filter(user=user).order_by("provider")
