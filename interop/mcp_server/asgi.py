"""/mcp in the ASGI application, beside Django: the MCP SDK's streamable-HTTP transport behind
Engram's API-key check, and the ASGI lifespan that runs the SDK's session manager.

Stateless: each POST carries its own API key and is served on its own, so any process of the
server can answer any request and the key of the request is the one the tools act for.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from accounts.services import API_KEY_PREFIX, api_key_authenticate
from core.request_context import bind_request_id
from interop.mcp_server import task_tools  # noqa: F401  (registers the task tools)
from interop.mcp_server.tools import current_key, server

logger = logging.getLogger(__name__)
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
MCP_PATH = "/mcp"

session_manager = StreamableHTTPSessionManager(
    app=server._lowlevel_server,
    json_response=True,
    stateless=True,
    # The Host header is checked against ALLOWED_HOSTS below, as Django checks it; a key is
    # needed for everything, so a rebound browser page has nothing to ride on.
    security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


def _secret(scope: dict[str, Any]) -> str | None:
    """The API key of the request: ``Authorization: Bearer egm_…`` or ``X-API-Key``."""
    if (key := _header(scope, b"x-api-key")) is not None:
        return key
    scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(API_KEY_PREFIX):
        return token
    return None


async def _refuse(send: Callable, status: int, code: str, message: str, request_id: str) -> None:
    body = {"error": {"code": code, "message": message, "details": {}, "request_id": request_id}}
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mcp"'))
    if status == 405:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _with_request_id(send: Callable, request_id: str) -> Callable:
    """``send``, adding X-Request-ID to the response as Django's middleware does elsewhere."""

    async def send_with_id(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_id


async def mcp_endpoint(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
    request_id = bind_request_id(_header(scope, b"x-request-id"))
    send = _with_request_id(send, request_id)
    host, _ = split_domain_port(_header(scope, b"host") or "")
    if not validate_host(host, settings.ALLOWED_HOSTS):
        await _refuse(send, 400, "VALIDATION_ERROR", "The Host header is not allowed.", request_id)
        return
    if scope["method"] == "GET":
        # The SDK would open an event stream that, stateless and answering in JSON, never
        # carries anything: an idle connection a key could open without limit.
        message = "This server answers each POST in JSON and opens no event stream."
        await _refuse(send, 405, "METHOD_NOT_ALLOWED", message, request_id)
        return
    secret = _secret(scope)
    try:
        key = await database_sync_to_async(api_key_authenticate)(secret) if secret else None
    except Exception:  # outside Django's middleware: answer in the error shape ourselves
        logger.exception("Authenticating an MCP request failed")
        await _refuse(send, 503, "SERVICE_UNAVAILABLE", "Unavailable; retry.", request_id)
        return
    if key is None:
        message = "Send an Engram API key: Authorization: Bearer egm_…"
        if secret:
            message = "The API key is invalid or revoked."
        await _refuse(send, 401, "AUTHENTICATION_FAILED", message, request_id)
        return
    token = current_key.set(key)
    try:
        await session_manager.handle_request(scope, receive, send)
    finally:
        current_key.reset(token)


def with_mcp(django_app: ASGIApp) -> ASGIApp:
    """HTTP: /mcp to the MCP endpoint, everything else to Django."""

    async def route(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["path"].rstrip("/") == MCP_PATH:
            await mcp_endpoint(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return route


async def lifespan(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
    """Run the MCP session manager for as long as the server runs."""
    await receive()  # lifespan.startup
    async with session_manager.run():
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})
