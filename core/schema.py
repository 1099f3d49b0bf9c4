"""OpenAPI post-processing: every operation documents the shared error shape.

Statuses only some operations answer (409 CONFLICT) are declared on those operations with a
description (``CONFLICT_RESPONSE``); this hook gives them the error body too."""

from typing import Any

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
