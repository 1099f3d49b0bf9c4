"""One error shape for every failed request, and the exceptions our code raises to produce it.

Every 4xx/5xx body is ``{"error": {"code", "message", "details", "request_id"}}``. Services raise
``EngramError`` subclasses (never HTTP responses); DRF's exceptions and Django's own failures are
mapped onto the same codes here.
"""

import logging
import math
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from core.request_context import current_request_id

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    MFA_REQUIRED = "MFA_REQUIRED"
    # Unlinking a provider that is an account's last way to sign in (accounts/social.py)
    LAST_SIGN_IN_METHOD = "LAST_SIGN_IN_METHOD"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # A stream resumed with Last-Event-ID after its frames stopped being kept (core/sse_resume.py)
    STREAM_EXPIRED = "STREAM_EXPIRED"
    # LLM providers (providers/llm/errors.py) and the model catalog (llm/catalog.py)
    PROVIDER_ERROR = "PROVIDER_ERROR"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_AUTH_FAILED = "PROVIDER_AUTH_FAILED"
    CONTEXT_TOO_LONG = "CONTEXT_TOO_LONG"
    RATE_LIMITED_UPSTREAM = "RATE_LIMITED_UPSTREAM"
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
    # Billing (billing/services.py): the server runs without Stripe
    BILLING_DISABLED = "BILLING_DISABLED"
    # Teams: password sign-in refused where the organisation requires SSO.
    SSO_REQUIRED = "SSO_REQUIRED"
    # An Idempotency-Key sent again with another request than the one it first came with.
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


class EngramError(Exception):
    """Base of every error our code raises on purpose; carries its HTTP status and stable code."""

    status_code = 400
    code: str = ErrorCode.VALIDATION_ERROR
    default_message = "The request is not valid."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        if code:
            self.code = code
        super().__init__(self.message)


class ValidationFailed(EngramError):
    pass


class AuthenticationFailed(EngramError):
    status_code = 401
    code = ErrorCode.AUTHENTICATION_FAILED
    default_message = "Authentication failed."


class NotFound(EngramError):
    status_code = 404
    code = ErrorCode.NOT_FOUND
    default_message = "Not found."


class PermissionDenied(EngramError):
    status_code = 403
    code = ErrorCode.PERMISSION_DENIED
    default_message = "You do not have permission to do this."


class MfaRequired(EngramError):
    status_code = 401
    code = ErrorCode.MFA_REQUIRED
    default_message = "This account has a second factor: send a code from your authenticator app."


class EmailNotVerified(EngramError):
    status_code = 403
    code = ErrorCode.EMAIL_NOT_VERIFIED
    default_message = "Verify your email address first: follow the link we mailed you."


class QuotaExceeded(PermissionDenied):
    """The user's tier does not allow more of something; details say the limit."""

    code = ErrorCode.QUOTA_EXCEEDED
    default_message = "Your plan's limit is reached."


class Conflict(EngramError):
    status_code = 409
    code = ErrorCode.CONFLICT
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(EngramError):
    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "The request body is too large."


class RateLimited(EngramError):
    status_code = 429
    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests."


class ServiceUnavailable(EngramError):
    status_code = 503
    code = ErrorCode.SERVICE_UNAVAILABLE
    default_message = "The service is temporarily unavailable."


# Errors of the layers core may not know (providers), mapped to an HTTP status by the app that
# uses them (its AppConfig.ready). Such an error carries ``code``, ``message`` and ``details``
# like an EngramError, and no status: the status is what it means to our API.
_ERROR_STATUSES: dict[type[Exception], int] = {}


def error_status_register(exc_type: type[Exception], status: int) -> None:
    """Answer ``exc_type`` (and its subclasses without a status of their own) with ``status``."""
    _ERROR_STATUSES[exc_type] = status


def known_error(exc: BaseException) -> EngramError | None:
    """What ``exc`` means to a client, the same on every transport (the HTTP exception handler
    and each WebSocket consumer): an EngramError as it is, an error of a registered type (a
    provider's) as an EngramError with its code, message, details and status; None when the
    error is unexpected (a bug: the caller logs it and answers INTERNAL_ERROR)."""
    if isinstance(exc, EngramError):
        return exc
    status = next((_ERROR_STATUSES[t] for t in type(exc).__mro__ if t in _ERROR_STATUSES), None)
    if status is None:
        return None
    error = EngramError(
        getattr(exc, "message", None) or str(exc),
        details=getattr(exc, "details", None),
        code=str(getattr(exc, "code", "") or ErrorCode.INTERNAL_ERROR),
    )
    error.status_code = status
    return error


# The messages of the two errors that are never the client's fault.
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side."
DATABASE_BUSY_MESSAGE = "The database is busy or unreachable; try again shortly."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": str(code),
            "message": message,
            "details": details or {},
            "request_id": current_request_id(),
        }
    }


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def _with_retry_after(response: Any, exc: EngramError) -> Any:
    # Our own rate limit and an upstream one (429) or outage (503) may say when to come back.
    # The header is whole seconds (RFC 9110: a client may int() it); an upstream's may be a
    # fraction (OpenAI's retry-after-ms), rounded up.
    if exc.status_code in (429, 503) and "retry_after" in exc.details:
        response["Retry-After"] = str(math.ceil(float(exc.details["retry_after"])))
    return response


def engram_error_response(exc: EngramError) -> JsonResponse:
    """``exc`` in the error shape, for a view outside DRF (the admin's login)."""
    response = error_response(exc.status_code, exc.code, exc.message, exc.details)
    return _with_retry_after(response, exc)


def too_large_body(limit: int) -> dict[str, Any]:
    return error_body(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The request body exceeds the limit of {limit} bytes.",
        {"limit_bytes": limit},
    )


def too_large_response(limit: int) -> JsonResponse:
    return JsonResponse(too_large_body(limit), status=413)


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf_exceptions.ParseError, ErrorCode.VALIDATION_ERROR),
    (drf_exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (drf_exceptions.NotAuthenticated, ErrorCode.AUTHENTICATION_FAILED),
    (drf_exceptions.AuthenticationFailed, ErrorCode.AUTHENTICATION_FAILED),
    (drf_exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf_exceptions.NotFound, ErrorCode.NOT_FOUND),
    (drf_exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf_exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (drf_exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf_exceptions.Throttled, ErrorCode.RATE_LIMITED),
]


def _drf_code(exc: drf_exceptions.APIException) -> str:
    for exc_type, code in _DRF_CODES:
        if isinstance(exc, exc_type):
            return code
    return ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def _message_of(detail: Any, fallback: str) -> str:
    return str(detail) if isinstance(detail, str) else fallback


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error leaves in the project's shape."""
    if (known := known_error(exc)) is not None:
        response = Response(error_body(known.code, known.message, known.details), known.status_code)
        return _with_retry_after(response, known)
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(settings.MAX_REQUEST_BYTES), 413)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if not isinstance(exc, drf_exceptions.APIException):
        return None  # unexpected: ExceptionShapeMiddleware logs it and answers 500

    code = _drf_code(exc)
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "The request is not valid.", _validation_details(exc.detail)
    elif isinstance(exc, drf_exceptions.ParseError):
        message, details = "The request body is not valid JSON.", {"body": [str(exc.detail)]}
    else:
        message, details = _message_of(exc.detail, str(exc.default_detail)), {}
    response = Response(error_body(code, message, details), exc.status_code)
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait))
    return response
