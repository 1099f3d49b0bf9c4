"""Who is calling: a personal API key (``X-API-Key`` or ``Bearer egm_…``), a JWT access token,
or a first-party web client's browser session."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt import authentication as simplejwt

from accounts.models import ApiKey, User
from accounts.services import API_KEY_PREFIX, api_key_authenticate


def _bearer_token(request: Request) -> str | None:
    return _bearer(get_authorization_header(request).decode("latin-1"))


def _bearer(authorization: str) -> str | None:
    parts = authorization.split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    return None


def api_key_secret(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a request sends, from its ``X-API-Key`` or ``Authorization: Bearer egm_…``
    header values, or None (no key: another authenticator's turn)."""
    if x_api_key is not None:
        return x_api_key
    bearer = _bearer(authorization or "")
    return bearer if bearer is not None and bearer.startswith(API_KEY_PREFIX) else None


class ApiKeyAuthentication(BaseAuthentication):
    """``request.auth`` is the ApiKey, so permissions can check its scopes."""

    # Which header values hold the key: a client with a scheme of its own (mem0's) overrides it.
    key_secret = staticmethod(api_key_secret)

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        headers = request.headers
        secret = self.key_secret(headers.get("X-API-Key"), headers.get("Authorization"))
        if secret is None:
            return None
        key = api_key_authenticate(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is invalid or revoked.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class JWTAuthentication(simplejwt.JWTAuthentication):
    """simplejwt's access-token check, leaving ``Bearer egm_…`` to the API-key authenticator."""

    def authenticate(self, request: Request):
        bearer = _bearer_token(request)
        if bearer is not None and bearer.startswith(API_KEY_PREFIX):
            return None
        return super().authenticate(request)
