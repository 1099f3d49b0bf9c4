"""The OpenAPI schema says what the API enforces: the schema class adds the rules DRF checks
but drf-spectacular leaves out, and post-processing hooks document the shared error shape,
empty query values and named (recursive) schemas. The fuzz test (core/tests/test_api_fuzz.py)
holds the API to it both ways: what the schema allows is accepted, what it refuses is refused.

Statuses only some operations answer (409 CONFLICT) are declared on those operations with a
description (``CONFLICT_RESPONSE``); the hook gives them the error body too."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

NO_NUL = r"^[^\x00]*$"
BLANK = {"type": "string", "maxLength": 0}
# What Python's str.strip() removes, spelled out: ``\s`` differs between regex dialects (the
# validators of other languages leave out U+001C to U+001F).
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_NO_NUL = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"
EMPTY_OR_NOT_BLANK = rf"^([^\x00]*[^\x00{SPACE}][^\x00]*)?$"


@dataclass(frozen=True)
class EventStream:
    """A ``text/event-stream`` response in ``extend_schema``: each event is named one of
    ``events`` and its data is ``data`` as JSON. Open API 3.0 has the media type's schema
    describe one event (``event``, ``data``, ``id``, ``retry``), as schemathesis reads it. That
    the data is JSON of ``data``'s schema is said with JSON Schema's ``contentMediaType`` and
    ``contentSchema`` as extensions (``x-``): 3.0's schema objects take no other keys, and a
    schema with them fails validation (``manage.py spectacular --validate``)."""

    events: tuple[str, ...]
    data: type[serializers.Serializer]


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, plus:

    - a text field DRF refuses NUL characters in says so with a pattern;
    - an input serializer's ``schema_constraints`` (a dict of JSON Schema keywords, such as an
      ``anyOf`` of required fields) go into its request schema, for rules across fields that
      its ``validate`` enforces;
    - an ``EventStream`` response documents each event and its data;
    - a nested list's length limits, a DELETE's body, and that a raw upload's body is required;
    - a text that may be blank is anyOf (not oneOf) its schema or "".
    """

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        response = serializer.response if isinstance(serializer, OpenApiResponse) else serializer
        if isinstance(response, EventStream):
            data = self.resolve_serializer(response.data, direction).ref
            event = {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": list(response.events)},
                    "data": {
                        "type": "string",
                        "x-contentMediaType": "application/json",
                        "x-contentSchema": data,
                    },
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
            }
            serializer = OpenApiResponse(event, description=serializer.description)
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        refuses_nul = any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
        # A field's own pattern comes later, from its RegexValidator, and says more.
        has_pattern = any(isinstance(v, RegexValidator) for v in field.validators)
        if (
            direction == "request"
            and refuses_nul
            and not has_pattern
            and schema.get("type") == "string"
            and not schema.keys() & {"pattern", "format", "enum"}
        ):
            # DRF trims a text before it refuses a blank one.
            blank_refused = getattr(field, "trim_whitespace", False) and not field.allow_blank
            schema["pattern"] = NOT_BLANK_NO_NUL if blank_refused else NO_NUL
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            # DRF checks a nested list's length; drf-spectacular only writes a ListField's.
            if field.min_length is not None or not field.allow_empty:
                schema["minItems"] = max(field.min_length or 0, 0 if field.allow_empty else 1)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def get_request_serializer(self):
        # A DELETE has a body only where extend_schema names one (its schema answers before
        # this): nothing to guess, and no warning for the many views without a serializer.
        if self.method == "DELETE":
            return None
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        if self.get_request_serializer() is None:
            return None
        # drf-spectacular documents bodies of PUT, PATCH and POST only; a DELETE that reads
        # one (mem0's batch delete) names it in extend_schema, and it is documented as one.
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that must name some fields (``schema_constraints``) cannot be left out, nor
        # can a raw (binary) one: it is the upload itself.
        constrained = bool(getattr(serializer, "schema_constraints", None))
        return schema, required or constrained or serializer == OpenApiTypes.BINARY

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular offers a blank text as oneOf the field's schema or "", but "" can
        # match both (a pattern that admits it), and oneOf then refuses it: anyOf.
        if BLANK in schema.get("oneOf", []):
            schema["anyOf"] = schema.pop("oneOf")

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        constraints = getattr(serializer, "schema_constraints", None)
        if direction == "request" and constraints:
            schema.update(constraints)
        return schema


ERROR_COMPONENT = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string", "example": "VALIDATION_ERROR"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
                "request_id": {"type": "string"},
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "The request is not valid (VALIDATION_ERROR).",
    "401": "Missing or invalid credentials (AUTHENTICATION_FAILED).",
    "403": "Not allowed (PERMISSION_DENIED).",
    "404": "No such object, or not yours (NOT_FOUND).",
    "405": "Method not allowed (METHOD_NOT_ALLOWED).",
    "406": "Cannot produce the requested media type (NOT_ACCEPTABLE).",
    "413": "The body is too large (PAYLOAD_TOO_LARGE).",
    "415": "The body's media type is not supported (UNSUPPORTED_MEDIA_TYPE).",
    "429": "Rate limit reached (RATE_LIMITED); see Retry-After.",
    "500": "Unexpected failure (INTERNAL_ERROR).",
    "503": "A dependency is unavailable (SERVICE_UNAVAILABLE).",
}


_NAMED_SCHEMAS: dict[str, dict[str, Any]] = {}


def named_schema(name: str, build: Callable[[dict[str, str]], dict[str, Any]]) -> dict[str, str]:
    """A reference to the schema ``build`` makes (given that same reference, for a schema that
    contains itself), added to the components as ``name`` by ``add_named_schemas``."""
    reference = {"$ref": f"#/components/schemas/{name}"}
    _NAMED_SCHEMAS[name] = build(reference)
    return reference


def add_named_schemas(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular hook: the schemas ``named_schema`` named."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_NAMED_SCHEMAS)
    return result


def document_empty_query_values(
    result: dict[str, Any], generator, request, public
) -> dict[str, Any]:
    """drf-spectacular hook: an optional query parameter sent empty (``?until=``) is the same as
    one left out (DRF reads a query string as a form does), so the schema allows the empty
    value too."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query" or parameter.get("required"):
                    continue
                schema = parameter.get("schema", {})
                if BLANK not in schema.get("anyOf", []):
                    parameter["schema"] = {"anyOf": [schema, BLANK]}
    return result


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular hook: add the Error component and reference it from each error status."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in _ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
            for status, response in responses.items():
                if status.startswith(("4", "5")) and not response.get("content"):
                    response["content"] = reference
    return result
