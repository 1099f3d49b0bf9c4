"""Who is calling: a personal API key (``X-API-Key`` or ``Bearer egm_…``), a JWT access token,
or a first-party web client's browser session."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt import authentication as simplejwt

from accounts.models import ApiKey, User
from accounts.services import API_KEY_PREFIX, api_key_authenticate


def _bearer_token(request: Request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) == 2 and parts[0].lower() == b"bearer":
        return parts[1].decode("latin-1")
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """``request.auth`` is the ApiKey, so permissions can check its scopes."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        secret = request.headers.get("X-API-Key")
        if secret is None:
            bearer = _bearer_token(request)
            if bearer is None or not bearer.startswith(API_KEY_PREFIX):
                return None
            secret = bearer
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
