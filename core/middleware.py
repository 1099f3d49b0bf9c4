"""Cross-cutting request plumbing: request ids, body-size limit, and the last-resort error shape.

Each Django middleware works natively in both sync (WSGI, tests) and async (ASGI server) stacks,
so no request pays for a thread hop it does not need. ``RequestBodyLimit`` sits in front of
Django on the ASGI server, where bodies arrive: the one body-size limit (a declared length or a
chunked body). Behind WSGI (config/wsgi.py, Django's test client) Django's own check of
DATA_UPLOAD_MAX_MEMORY_SIZE (set to MAX_REQUEST_BYTES) refuses a declared length over it, answered
as the same 413.
"""

import json
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
    EngramError,
    ErrorCode,
    engram_error_response,
    error_body,
    error_response,
    too_large_body,
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


class RequestBodyLimit:
    """ASGI middleware in front of Django: no body larger than MAX_REQUEST_BYTES is read.

    Django's ASGI handler reads the whole body before any Django middleware runs, and then
    believes only Content-Length. So here a declared length over the limit is refused before a
    byte of the body is read; a chunked body (no Content-Length) is read here, counted, refused
    at the first chunk past the limit, and handed on whole with the Content-Length it has.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if is_streamed_upload(scope["path"], content_type):
            # Its view streams the body under its own limit and the user's quota (core.asgi).
            await self.app(scope, receive, send)
            return
        limit = settings.MAX_REQUEST_BYTES
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                body = error_body(ErrorCode.VALIDATION_ERROR, "Content-Length is not a number.")
                await self._answer(send, headers, 400, body)
            elif int(declared) > limit:
                await self._answer(send, headers, 413, too_large_body(limit))
            else:
                await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._answer(send, headers, 413, too_large_body(limit))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope = {**scope, "headers": [*scope["headers"], (b"content-length", b"%d" % len(body))]}
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(send, headers: dict[bytes, bytes], status: int, body: dict) -> None:
        request_id = bind_request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        body["error"]["request_id"] = request_id
        content = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(content)),
                    (b"x-request-id", request_id.encode()),
                    # The rest of the body is never read: the connection cannot carry another.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


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
        if isinstance(exception, EngramError):
            return engram_error_response(exception)
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
