"""Cross-cutting request plumbing: request ids, body-size limit, and the last-resort error shape.

Each middleware works natively in both sync (WSGI, tests) and async (ASGI server) stacks, so no
request pays for a thread hop it does not need.
"""

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse

from core.asgi import is_streamed_upload
from core.errors import (
    DATABASE_BUSY_MESSAGE,
    INTERNAL_ERROR_MESSAGE,
    ErrorCode,
    error_response,
    too_large_response,
)
from core.request_context import bind_request_id

logger = logging.getLogger("engram.request")


class DualModeMiddleware:
    """Runs ``before`` (which may answer early) and ``after`` around the rest of the stack."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        return self.after(request, self.get_response(request))

    async def _acall(self, request):
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        return self.after(request, await self.get_response(request))


class RequestIDMiddleware(DualModeMiddleware):
    def before(self, request: HttpRequest) -> None:
        request.request_id = bind_request_id(request.headers.get("X-Request-ID"))

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Request-ID"] = request.request_id
        return response


class BodySizeLimitMiddleware(DualModeMiddleware):
    """Refuse an oversized body from its Content-Length, before anything reads it."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        if is_streamed_upload(request.path, request.META.get("CONTENT_TYPE", "")):
            return None  # its view streams it under its own limit (core.asgi)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return error_response(
                400, ErrorCode.VALIDATION_ERROR, "Content-Length is not a number."
            )
        if length > settings.MAX_REQUEST_BYTES:
            return too_large_response(settings.MAX_REQUEST_BYTES)
        return None


class ExceptionShapeMiddleware(DualModeMiddleware):
    """Answers any exception a view lets escape in the error shape, never with a traceback.

    Django's own 400/403/404 handling (config.urls handler views) already speaks the error shape,
    so those pass through; everything unexpected is logged once and becomes a 500.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(settings.MAX_REQUEST_BYTES)
        if isinstance(exception, Http404 | PermissionDenied | BadRequest | SuspiciousOperation):
            return None
        if isinstance(exception, OperationalError):
            # No pooled connection came free in time, or PostgreSQL is away: worth a retry,
            # where a 500 would say our code is wrong.
            logger.warning("Database unavailable on %s %s: %s", request.method, request.path,
                           exception)  # fmt: skip
            response = error_response(503, ErrorCode.SERVICE_UNAVAILABLE, DATABASE_BUSY_MESSAGE)
            response["Retry-After"] = "1"
            return response
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE)
