"""Saving a user's provider key, which asks the provider whether it accepts it (so it lives
here, beside the gateway, rather than in accounts, which knows no provider)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services as account_services
from accounts.api import serializers as s
from accounts.api.views import PROVIDER_PARAMETER, TAG, known_provider
from core.api import ApiView, validated
from llm.services import provider_key_save


class ProviderKeyDetailView(ApiView):
    @extend_schema(
        tags=[TAG],
        parameters=[PROVIDER_PARAMETER],
        request=s.ProviderKeyInput,
        responses={200: s.ProviderKeySavedOutput},
        description="Saves the key, then asks the provider for its models list with it where "
        "that tells a good key from a bad one: `verified` is true (accepted), false (refused; "
        "the key is saved anyway) or null (not asked: the provider is down or cannot tell).",
    )
    def put(self, request: Request, provider: str) -> Response:
        data = validated(s.ProviderKeyInput, request.data)
        key, verified = provider_key_save(
            user=request.user, provider=known_provider(provider), **data
        )
        return Response({**s.ProviderKeyOutput(key).data, "verified": verified})

    @extend_schema(tags=[TAG], parameters=[PROVIDER_PARAMETER], responses={204: None})
    def delete(self, request: Request, provider: str) -> Response:
        account_services.provider_key_delete(user=request.user, provider=known_provider(provider))
        return Response(status=204)
