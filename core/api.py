"""The base of every API view: input validation, the API-key scope, and owned objects.

An owned-object view names the URL argument that holds the id (``owned_kwarg``), the handler
argument the object is passed as (``owned_arg``) and where owned objects come from
(``owned_queryset``). The object is resolved once, after authentication and permissions and
before the handler runs (Sentry's ``convert_args``): another user's object, a missing one and
a malformed id are all the same 404, and no handler looks an owned object up itself.
"""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from core.ownership import get_owned_object


def validated_serializer(
    serializer_class: type[serializers.Serializer],
    data: Any,
    *,
    text: bool = False,
    **kwargs: Any,
) -> serializers.Serializer:
    """The serializer with ``data`` validated, for input serializers that also convert it
    (``to_draft``, ``to_filters``); a failure is a 400 with per-field details. ``kwargs`` go to
    the serializer (``context``, ``partial``).

    JSON values must have the type the field documents (see ``json_type_errors``); a query
    string or a form (a QueryDict), or ``text=True`` (values read from headers), has only text,
    which the fields convert."""
    serializer = serializer_class(data=data, **kwargs)
    if isinstance(data, QueryDict):
        errors = repeated_value_errors(serializer, data)
    else:
        errors = None if text else json_type_errors(serializer, data)
    if errors:
        raise serializers.ValidationError(errors)
    serializer.is_valid(raise_exception=True)
    return serializer


def validated(
    serializer_class: type[serializers.Serializer], data: Any, *, text: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Validate input with ``serializer_class``; a failure is a 400 with per-field details."""
    return validated_serializer(serializer_class, data, text=text, **kwargs).validated_data


# DRF's fields convert what they can (0 → "0", 0 → False, false → 0.0, "1" → 1): a client that
# sends the wrong JSON type gets something it did not mean, and comes to rely on it.
_JSON_TYPES: list[tuple[type[serializers.Field], tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "Must be true or false."),
    (serializers.CharField, (str,), "Not a valid string."),
    (serializers.UUIDField, (str,), "Not a valid string."),
    (serializers.DateTimeField, (str,), "Not a valid string."),
    (serializers.DateField, (str,), "Not a valid string."),
    (serializers.IntegerField, (int,), "A valid integer is required."),
    (serializers.FloatField, (int, float), "A valid number is required."),
]


def json_type_errors(field: serializers.Field, value: Any) -> Any:
    """Where a JSON ``value`` has another type than ``field`` documents, in DRF's error shape
    (nested like the value), or None. Only types: what DRF's validation says comes after."""
    if value is None:
        return None  # allow_null is the field's to decide
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        if not isinstance(value, list):
            return None
        items = enumerate(value)
        errors = {i: e for i, item in items if (e := json_type_errors(field.child, item))}
        return errors or None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return None
        errors = {k: e for k, item in value.items() if (e := json_type_errors(field.child, item))}
        return errors or None
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return None
        errors = {
            name: e
            for name, child in field.fields.items()
            if not child.read_only and name in value and (e := json_type_errors(child, value[name]))
        }
        return errors or None
    if isinstance(field, serializers.ChoiceField):
        # Every documented choice is text: a number that reads like one is still not one.
        if all(isinstance(choice, str) for choice in field.choices) and not isinstance(value, str):
            return ["Not a valid string."]
        return None
    for field_class, types, message in _JSON_TYPES:
        if isinstance(field, field_class):
            wrong = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
            return [message] if wrong else None
    return None


def repeated_value_errors(serializer: serializers.Serializer, data: QueryDict) -> dict | None:
    """A parameter sent more than once where the field takes one value (DRF would quietly
    keep the last): which ones, in DRF's error shape, or None."""
    errors = {
        name: ["Give one value."]
        for name, field in serializer.fields.items()
        if not isinstance(field, serializers.ListField | serializers.MultipleChoiceField)
        and len(data.getlist(name)) > 1
    }
    return errors or None


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


class ClosedInputSerializer(InputSerializer):
    """An input whose unknown fields are a 400, not ignored: for filters, where a misspelt key
    would silently widen what a read returns. The schema says so."""

    schema_constraints = {"additionalProperties": False}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


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
