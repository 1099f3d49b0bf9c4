"""WebSocket authentication: the same JWTs and API keys as the REST API.

A browser cannot set headers on a WebSocket, so the token comes as the ``token`` query
parameter or as a subprotocol: ``new WebSocket(url, ["engram.v1", token])``; clients that can
(a desktop app, a script) may send ``Authorization: Bearer <token>`` as over HTTP. The consumer
decides what to do with an anonymous connection (chat closes it with code 4401).
"""

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


def authenticate_token(token: str, *, scope: str) -> User | None:
    """The active user behind a JWT access token or an API key holding ``scope``, or None."""
    if token.startswith(API_KEY_PREFIX):
        key = api_key_authenticate(token)
        return key.user if key is not None and scope in key.scopes else None
    try:
        user_id = AccessToken(token)["user_id"]
    except (TokenError, KeyError):
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


class TokenAuthMiddleware(BaseMiddleware):
    """Puts the authenticated user (or None) in ``scope["user"]``."""

    async def __call__(self, scope, receive, send):
        token = _token_from(scope)
        user = None
        if token:
            # On a thread of its own: a burst of connections does not queue on the one thread
            # that thread-sensitive calls share outside a context.
            async with ThreadSensitiveContext():
                user = await database_sync_to_async(authenticate_token)(token, scope=ApiScope.CHAT)
        return await super().__call__({**scope, "user": user}, receive, send)
