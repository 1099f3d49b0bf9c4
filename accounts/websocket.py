"""WebSocket authentication: the same JWTs and API keys as the REST API.

A browser cannot set headers on a WebSocket, so the token comes as the ``token`` query
parameter or as a subprotocol: ``new WebSocket(url, ["engram.v1", token])``; clients that can
(a desktop app, a script) may send ``Authorization: Bearer <token>`` as over HTTP. The consumer
decides what to do with an anonymous connection (chat closes it with code 4401).
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import ApiScope, User
from accounts.services import API_KEY_PREFIX, api_key_authenticate
from core.websocket import PROTOCOL


def _token_from(scope: dict) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    for offered in scope.get("subprotocols", []):
        if offered != PROTOCOL:
            return offered
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            kind, _, credential = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and credential.strip():
                return credential.strip()
    return None


@dataclass(frozen=True)
class SocketCredential:
    """What a socket was opened with, checked again before each request it sends
    (``authenticated``): a key revoked, an account deactivated or an access token expired
    since it opened stops it from starting anything more."""

    token: str = field(repr=False)
    # The API key's scopes; None for an access token (a signed-in session: everything).
    scopes: tuple[str, ...] | None

    def authenticated(self) -> User | None:
        user, _ = authenticate_token(self.token, scope=ApiScope.CHAT)
        return user


def authenticate_token(token: str, *, scope: str) -> tuple[User | None, tuple[str, ...] | None]:
    """The active user behind a JWT access token or an API key holding ``scope`` (or None), and
    the key's scopes (None for a token)."""
    if token.startswith(API_KEY_PREFIX):
        key = api_key_authenticate(token)
        if key is None or scope not in key.scopes:
            return None, None
        return key.user, tuple(key.scopes)
    try:
        user_id = AccessToken(token)["user_id"]
    except (TokenError, KeyError):
        return None, None
    return User.objects.filter(pk=user_id, is_active=True).first(), None


class TokenAuthMiddleware(BaseMiddleware):
    """Puts the authenticated user (or None) in ``scope["user"]``, and what authenticated them
    in ``scope["credential"]``."""

    async def __call__(self, scope, receive, send):
        token = _token_from(scope)
        user, credential = None, None
        if token:
            # On a thread of its own: a burst of connections does not queue on the one thread
            # that thread-sensitive calls share outside a context.
            async with ThreadSensitiveContext():
                user, scopes = await database_sync_to_async(authenticate_token)(
                    token, scope=ApiScope.CHAT
                )
            credential = SocketCredential(token, scopes) if user is not None else None
        return await super().__call__(
            {**scope, "user": user, "credential": credential}, receive, send
        )
