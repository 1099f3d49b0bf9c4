from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.ratelimit import login_rate_limit
from core.api import ApiView, validated
from deletion.api.serializers import AccountDeletionInput
from deletion.services import account_delete


class AccountDeletionView(ApiView):
    """Signed in as the person (a session or a JWT); an API key, a client's credential, is
    refused (ApiView's default)."""

    @extend_schema(
        tags=["auth"],
        operation_id="auth_me_delete",
        summary="Delete your account and everything in it",
        request=AccountDeletionInput,
        responses={
            204: None,
            409: OpenApiResponse(
                description="An organisation with other members, or published plugins "
                "(CONFLICT; `details.organisations`, `details.plugins`)."
            ),
        },
        description="Memories, chats, tasks, keys, backups and the organisations only you are "
        "in are deleted, and a subscription ends at once. 409 while you own an organisation "
        "with other members (`details.organisations`) or publish plugins (`details.plugins`). "
        "The password tried counts as a sign-in attempt. An account without a password (made "
        "through a provider) is deleted within 15 minutes of signing in.",
    )
    def post(self, request: Request) -> Response:
        data = validated(AccountDeletionInput, request.data)
        login_rate_limit(request._request, account=request.user.email)
        account_delete(user=request.user, **data)
        return Response(status=204)
