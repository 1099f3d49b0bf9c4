import secrets

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services, social
from accounts.api import serializers as s
from accounts.models import Provider
from accounts.ratelimit import (
    EMAIL_CHANGE_GROUP,
    EMAIL_VERIFICATION_GROUP,
    auth_rate_limit,
    login_rate_limit,
)
from core.api import ApiView, validated
from core.errors import NotFound

TAG = "auth"


def _session(user, tokens: services.TokenPair) -> dict:
    return {"user": s.UserOutput(user).data, **s.TokenPairOutput(tokens).data}


class PublicAuthView(ApiView):
    """Reached without credentials; a stale token in the request must not get in the way."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(PublicAuthView):
    rate_limit_by_ip = True

    @extend_schema(
        tags=[TAG],
        request=s.RegisterInput,
        responses={201: s.SessionOutput, 202: s.PendingVerificationOutput},
        description="201 with a token pair; 202 with none while ACCOUNT_EMAIL_VERIFICATION is "
        "mandatory (the account signs in once the mailed link has verified its address).",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.RegisterInput, request.data)
        user, tokens = services.user_sign_up(request=request._request, **data)
        if tokens is None:
            return Response({"user": s.UserOutput(user).data, "verification_sent": True}, 202)
        return Response(_session(user, tokens), status=201)


class LoginView(PublicAuthView):
    # Counted in post() by login_rate_limit, once the attempt names its account.
    throttle_classes: list = []

    @extend_schema(tags=[TAG], request=s.LoginInput, responses={200: s.SessionOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.LoginInput, request.data)
        login_rate_limit(request._request, account=data["email"])
        user = services.user_login(request=request._request, **data)
        return Response(_session(user, services.tokens_issue(user=user)))


class RefreshView(PublicAuthView):
    @extend_schema(tags=[TAG], request=s.RefreshInput, responses={200: s.TokenPairOutput})
    def post(self, request: Request) -> Response:
        _, tokens = services.tokens_refresh(**validated(s.RefreshInput, request.data))
        return Response(s.TokenPairOutput(tokens).data)


class LogoutView(PublicAuthView):
    @extend_schema(tags=[TAG], request=s.RefreshInput, responses={204: None})
    def post(self, request: Request) -> Response:
        services.tokens_revoke(**validated(s.RefreshInput, request.data))
        return Response(status=204)


class SessionTokensView(ApiView):
    """The browser session's JWT pair: a first-party web client signed in with its session
    cookie (a password, or a redirect to Google, GitHub or an OIDC provider) gets the pair the
    WebSocket, MCP and SDK clients use."""

    authentication_classes = [SessionAuthentication]

    @extend_schema(
        tags=[TAG],
        request=None,
        responses={200: s.SessionOutput},
        description="Needs the browser session cookie and its CSRF token (X-CSRFToken); "
        "bearer tokens and API keys are refused here.",
    )
    def post(self, request: Request) -> Response:
        # The pairs of one browser session are one sign-in: signing out of the session revokes
        # them (accounts.receivers).
        family = request.session.setdefault(services.SESSION_TOKEN_FAMILY, secrets.token_hex(16))
        pair = services.tokens_issue(user=request.user, family=family)
        return Response(_session(request.user, pair))


class SignInMethodsView(ApiView):
    @extend_schema(tags=[TAG], responses={200: s.SignInMethodsOutput})
    def get(self, request: Request) -> Response:
        methods = {
            "password": request.user.has_usable_password(),
            "linked_accounts": social.linked_accounts(request.user),
        }
        return Response(s.SignInMethodsOutput(methods).data)


class LinkedAccountDetailView(ApiView):
    @extend_schema(
        tags=[TAG],
        responses={204: None},
        description="Unlinks a provider account; 409 LAST_SIGN_IN_METHOD when it is the "
        "account's last way to sign in (no password, no other provider).",
    )
    def delete(self, request: Request, account_id: int) -> Response:
        social.linked_account_unlink(
            request=request._request, user=request.user, account_id=account_id
        )
        return Response(status=204)


class MeView(ApiView):
    @extend_schema(tags=[TAG], responses={200: s.UserOutput})
    def get(self, request: Request) -> Response:
        return Response(s.UserOutput(request.user).data)

    @extend_schema(tags=[TAG], request=s.ProfileUpdateInput, responses={200: s.UserOutput})
    def patch(self, request: Request) -> Response:
        changes = validated(s.ProfileUpdateInput, request.data)
        user = services.user_profile_update(user=request.user, changes=changes)
        return Response(s.UserOutput(user).data)


class PasswordView(ApiView):
    @extend_schema(tags=[TAG], request=s.PasswordChangeInput, responses={200: s.TokenPairOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.PasswordChangeInput, request.data)
        tokens = services.user_password_change(user=request.user, **data)
        return Response(s.TokenPairOutput(tokens).data)


class EmailView(ApiView):
    @extend_schema(
        tags=[TAG],
        request=s.EmailChangeInput,
        responses={202: s.EmailChangeOutput},
        description="Mails the new address a verification link; it replaces the current one "
        "only once verified (POST /_allauth/app/v1/auth/email/verify {key}).",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.EmailChangeInput, request.data)
        auth_rate_limit(request._request, group=EMAIL_CHANGE_GROUP, account=request.user.email)
        address = services.user_email_change(
            request=request._request, user=request.user, email=data["email"]
        )
        return Response(s.EmailChangeOutput(address).data, status=202)


class EmailVerificationView(ApiView):
    @extend_schema(
        tags=[TAG],
        request=None,
        responses={202: None},
        description="Mails a fresh verification link to your current address (none if it is "
        "verified already).",
    )
    def post(self, request: Request) -> Response:
        auth_rate_limit(
            request._request, group=EMAIL_VERIFICATION_GROUP, account=request.user.email
        )
        services.email_verification_send(request=request._request, user=request.user)
        return Response(status=202)


class ApiKeyListView(ApiView):
    @extend_schema(tags=[TAG], responses={200: s.ApiKeyOutput(many=True)})
    def get(self, request: Request) -> Response:
        return Response(s.ApiKeyOutput(selectors.api_keys_of(request.user), many=True).data)

    @extend_schema(tags=[TAG], request=s.ApiKeyCreateInput, responses={201: s.ApiKeyCreatedOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.ApiKeyCreateInput, request.data)
        key, secret = services.api_key_create(user=request.user, **data)
        body = s.ApiKeyOutput(key).data | {"key": secret}
        return Response(body, status=201)


class ApiKeyDetailView(ApiView):
    @extend_schema(tags=[TAG], responses={204: None})
    def delete(self, request: Request, key_id: str) -> Response:
        services.api_key_revoke(user=request.user, key_id=key_id)
        return Response(status=204)


class ProviderKeyListView(ApiView):
    @extend_schema(tags=[TAG], responses={200: s.ProviderKeyOutput(many=True)})
    def get(self, request: Request) -> Response:
        keys = selectors.provider_keys_of(request.user)
        return Response(s.ProviderKeyOutput(keys, many=True).data)


def known_provider(provider: str) -> str:
    """``provider`` when it is one keys are stored for; NotFound (404) naming them otherwise."""
    if provider not in Provider.values:
        raise NotFound(
            f"Unknown provider '{provider}'.", details={"providers": list(Provider.values)}
        )
    return provider


PROVIDER_PARAMETER = OpenApiParameter(
    "provider", str, OpenApiParameter.PATH, enum=list(Provider.values)
)
