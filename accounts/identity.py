"""Where django-allauth's headless API meets our accounts: its sign-ins end in our JWT pair,
and its sign-in, reset and verification endpoints count in our rate limits.

allauth serves email verification, password reset and (later) social sign-in and a second
factor at ``/_allauth/app/v1/``; what a client holds afterwards is the same access/refresh pair
``/api/v1/auth/login`` answers, so the API, MCP, SDK and WebSocket clients see one identity.
"""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import LOGIN_SESSION_KEY
from allauth.headless import app_settings as headless_settings
from allauth.headless.tokens.strategies.sessions import SessionTokenStrategy
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from accounts import crypto, services
from accounts.models import User
from accounts.ratelimit import (
    EMAIL_CHANGE_GROUP,
    EMAIL_VERIFICATION_GROUP,
    LOGIN_GROUP,
    PASSWORD_RESET_GROUP,
    PASSWORD_RESET_KEY_GROUP,
    SIGNUP_GROUP,
    auth_rate_limit,
)
from core.errors import AuthenticationFailed, RateLimited, ValidationFailed, engram_error_response
from core.middleware import DualModeMiddleware
from core.parsers import JSONInputError, json_loads

HEADLESS_PREFIX = "/_allauth/app/v1/"
SESSION_ACCOUNT = "<session>"
# The browser client's (the session cookie, CSRF checked): the same endpoints, the same limits.
HEADLESS_PREFIXES = (HEADLESS_PREFIX, "/_allauth/browser/v1/")
# Posted as a form by the browser (a redirect to Google, GitHub or an OIDC provider), not JSON.
FORM_ENDPOINTS = frozenset({"auth/provider/redirect"})
# allauth's endpoints that try a credential or send a mail: the group they count in, and the
# field of the body that names the account (an email, or the key of an emailed link).
LIMITED_ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "auth/login": (LOGIN_GROUP, "email"),
    # A second step of a sign-in, or a password asked again: the account is the session's (its
    # pending sign-in's, or its user's), counted with that account's logins.
    "auth/2fa/authenticate": (LOGIN_GROUP, SESSION_ACCOUNT),
    "auth/2fa/reauthenticate": (LOGIN_GROUP, SESSION_ACCOUNT),
    "auth/reauthenticate": (LOGIN_GROUP, SESSION_ACCOUNT),
    # An ID token from a provider, handed over by an app that ran the provider's flow itself.
    "auth/provider/token": (LOGIN_GROUP, None),
    "auth/provider/signup": (SIGNUP_GROUP, "email"),
    "auth/signup": (SIGNUP_GROUP, "email"),
    "auth/password/request": (PASSWORD_RESET_GROUP, "email"),
    "auth/password/reset": (PASSWORD_RESET_KEY_GROUP, "key"),
    "auth/email/verify": (EMAIL_VERIFICATION_GROUP, "key"),
    "account/email": (EMAIL_CHANGE_GROUP, "email"),
}


class AccountAdapter(DefaultAccountAdapter):
    def set_password(self, user, password: str) -> None:
        services.user_password_set(user=user, password=password)

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's password sign-in meets the same checks as ours (ACCOUNTS_SIGN_IN_CHECKS:
        a team requiring SSO refuses its domain's addresses)."""
        if email := credentials.get("email"):
            for check in settings.ACCOUNTS_SIGN_IN_CHECKS:
                import_string(check)(email=str(email).strip())
        super().pre_authenticate(request, **credentials)


class MfaAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are encrypted at rest under ENCRYPTION_KEYS, as
    provider keys are."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text, context=services.MFA_SECRET_CONTEXT)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text, context=services.MFA_SECRET_CONTEXT)


class JwtTokenStrategy(SessionTokenStrategy):
    """allauth keeps its session token for the steps of a sign-in; once signed in, the client
    is handed our JWT pair (``meta.access_token``, ``refresh_token``, ``expires_in``,
    ``expires_at``), and allauth's token refresh rotates it as ``/api/v1/auth/refresh`` does."""

    def create_access_token_payload(self, request: HttpRequest) -> dict[str, Any] | None:
        tokens = services.tokens_issue(user=request.user)
        return {
            "access_token": tokens.access,
            "refresh_token": tokens.refresh,
            "expires_in": tokens.expires_in,
            "expires_at": tokens.access_expires_at.isoformat(),
        }

    def refresh_token(self, refresh_token: str) -> tuple[str, str] | None:
        try:
            _, tokens = services.tokens_refresh(refresh=refresh_token)
        except AuthenticationFailed:
            return None
        return tokens.access, tokens.refresh


def _session_account(request: HttpRequest, prefix: str) -> str:
    """The email of the account a headless session is signing in (or is signed in as): the
    browser client's session cookie, or the app client's X-Session-Token."""
    session = request.session
    if prefix == HEADLESS_PREFIX:
        token = request.headers.get("X-Session-Token", "")
        session = headless_settings.TOKEN_STRATEGY.lookup_session(token) if token else None
    if session is None:
        return ""
    pending = session.get(LOGIN_SESSION_KEY)
    user_pk = pending.get("user_pk") if isinstance(pending, dict) else None
    user_pk = user_pk or session.get(SESSION_KEY)
    try:
        user = User.objects.filter(pk=user_pk).only("email").first() if user_pk else None
    except (ValueError, ValidationError):
        return ""
    return user.email if user is not None else ""


def _named_account(request: HttpRequest, prefix: str, body: Any, field: str | None) -> str:
    if field == SESSION_ACCOUNT:
        return _session_account(request, prefix)
    value = body.get(field) if field is not None and isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


class IdentityGateMiddleware(DualModeMiddleware):
    """In front of allauth's headless API: a JSON body is read with the one reader every other
    door uses (allauth's plain ``json.loads`` let a deeply nested body reach a 500), and each
    POST to its sign-in, reset and verification endpoints counts per client address and per
    account named; both refusals in our error shape."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        prefix = next((p for p in HEADLESS_PREFIXES if request.path.startswith(p)), None)
        endpoint = request.path.removeprefix(prefix or "")
        if prefix is None or endpoint in FORM_ENDPOINTS or not request.body:
            return None
        try:
            body = json_loads(request.body)
        except JSONInputError as exc:
            return engram_error_response(ValidationFailed(str(exc)))
        limited = LIMITED_ENDPOINTS.get(endpoint)
        if request.method != "POST" or limited is None:
            return None
        group, field = limited
        try:
            account = _named_account(request, prefix, body, field)
            auth_rate_limit(request, group=group, account=account)
        except RateLimited as exc:
            return engram_error_response(exc)
        return None
