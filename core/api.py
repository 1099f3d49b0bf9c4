"""The base of every API view: input validation, the API-key scope, and owned objects.

An owned-object view names the URL argument that holds the id (``owned_kwarg``), the handler
argument the object is passed as (``owned_arg``) and where owned objects come from
(``owned_queryset``). The object is resolved once, after authentication and permissions and
before the handler runs (Sentry's ``convert_args``): another user's object, a missing one and
a malformed id are all the same 404, and no handler looks an owned object up itself.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from core.ownership import get_owned_object


def validated_serializer(
    serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any
) -> serializers.Serializer:
    """The serializer with ``data`` validated, for input serializers that also convert it
    (``to_draft``, ``to_filters``); a failure is a 400 with per-field details. ``kwargs`` go to
    the serializer (``context``, ``partial``)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer


def validated(
    serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any
) -> dict[str, Any]:
    """Validate input with ``serializer_class``; a failure is a 400 with per-field details."""
    return validated_serializer(serializer_class, data, **kwargs).validated_data


def unstorable_text(value: Any) -> str | None:
    """Why PostgreSQL could not store ``value`` or any text inside it (a NUL character, a lone
    surrogate), or None. DRF's CharField refuses both; JSON and dict fields do not."""
    if isinstance(value, str):
        if "\x00" in value:
            return "Text may not contain NUL characters."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Text must be valid Unicode (no lone surrogates)."
        return None
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    return next((reason for item in items if (reason := unstorable_text(item))), None)


class InputSerializer(serializers.Serializer):
    """Base of every input: refuses text PostgreSQL cannot store, anywhere in the body."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = {
            name: [reason] for name, value in attrs.items() if (reason := unstorable_text(value))
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# No docstrings on these bases: the OpenAPI schema takes a view's docstring as its description.
class ApiView(APIView):
    # Every Engram API view. ``scope_family`` names the API-key scopes it needs (see
    # accounts.permissions); without one, API keys are refused.

    scope_family: str | None = None
    # Methods that only read although HTTP calls them unsafe (a search sent by POST): a scope
    # follows what an endpoint does, so these need the family's read scope, not its write scope.
    reading_methods: frozenset[str] = frozenset()


class OwnedObjectView(ApiView):
    # A view of one object the requesting user owns, passed to the handler as ``owned_arg``.

    owned_kwarg: str = ""  # the URL argument holding the id, e.g. "thread_id"
    owned_arg: str = ""  # the handler argument the object is passed as, e.g. "thread"
    owner_field = "user"

    def owned_queryset(self) -> QuerySet:
        """Where the owned objects come from (filtered to the user here, not by overriders)."""
        raise NotImplementedError

    def owned_resolve(self, request: Request, pk: Any) -> Any:
        """The owned object with id ``pk``, or NotFound."""
        return get_owned_object(
            self.owned_queryset(), owner=request.user, pk=pk, owner_field=self.owner_field
        )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # ``self.kwargs`` is the dict APIView.dispatch hands to the handler next.
        pk = self.kwargs.pop(self.owned_kwarg)
        self.kwargs[self.owned_arg] = self.owned_resolve(request, pk)
