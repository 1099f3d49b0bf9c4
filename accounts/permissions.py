"""API keys may do only what their scopes allow; a signed-in session (JWT) may do everything.

A view opts in to API keys with ``scope_family``: ``"memories"`` needs ``memories:read`` for
what only reads (safe methods, and the view's ``reading_methods``, e.g. a search sent by POST)
and ``memories:write`` otherwise; a family that is itself a scope (``"chat"``) needs that scope.
A view without ``scope_family`` (account management) refuses API keys. What a request does
beyond its view's family (an agent turn on the server's tasks, asked through chat's scope) is
checked where it is decided, with ``scope_required``.
"""

from collections.abc import Collection
from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey, ApiScope
from core.errors import PermissionDenied

if TYPE_CHECKING:
    from rest_framework.views import APIView


def required_scope(
    family: str | None, method: str, reading_methods: frozenset[str] = frozenset()
) -> str | None:
    if family is None:
        return None
    if family in ApiScope.values:
        return family
    reads = method in SAFE_METHODS or method in reading_methods
    return f"{family}:{'read' if reads else 'write'}"


def key_scopes(auth: object) -> tuple[str, ...] | None:
    """The scopes of the API key a request came with; None for a signed-in session (JWT or
    cookie), which may do everything."""
    return tuple(auth.scopes) if isinstance(auth, ApiKey) else None


def scope_required(scopes: Collection[str] | None, needed: str) -> None:
    """Refuse (403, naming the scope) what an API key with ``scopes`` may not do; ``scopes``
    None (a signed-in session) may do it."""
    if scopes is not None and needed not in scopes:
        raise PermissionDenied(
            f"This API key lacks the '{needed}' scope.",
            details={"required_scope": needed, "key_scopes": list(scopes)},
        )


class ScopePermission(BasePermission):
    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        needed = required_scope(
            getattr(view, "scope_family", None),
            request.method,
            getattr(view, "reading_methods", frozenset()),
        )
        if needed is None:
            raise PermissionDenied("API keys cannot be used here; sign in with your password.")
        scope_required(request.auth.scopes, needed)
        return True
