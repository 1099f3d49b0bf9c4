"""Connections to a base URL a user gave (``LLMCredentials.base_url_from_user``).

The host is resolved when the connection is made, every address it has is checked
(core.egress), and the connection goes to the address that was checked: a name that answers
with another address between a check and a connection (DNS rebinding) reaches nothing it was
not allowed to. With ``LLM_ALLOW_LOCAL_BASE_URLS`` on, nothing is checked.
"""

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
import openai
from django.conf import settings

from core.egress import refused_among
from providers.llm.errors import ProviderAddressRefused

# The pool the SDK's own client keeps: up to 1,000 connections (one per concurrent stream).
SDK_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


async def checked_address(host: str, port: int) -> str:
    """The address to connect to for ``host``: resolved now, and refused
    (``ProviderAddressRefused``) when any of its addresses is on the server's own network."""
    if settings.LLM_ALLOW_LOCAL_BASE_URLS:
        return host
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    refusal = refused_among(host, addresses)
    if refusal:
        raise ProviderAddressRefused(
            f"{refusal} This server does not send requests there.", details={"host": host}
        )
    return addresses[0]


class _CheckedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses (redirects too)."""

    def __init__(self) -> None:
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        # TLS is started afterwards with the host's name, so certificates are still checked
        # against the name and not the address.
        return await self._backend.connect_tcp(
            await checked_address(host, port), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise ProviderAddressRefused("A base URL may not name a local socket.")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def checked_http_client(**options: Any) -> httpx2.AsyncClient:
    """An HTTP client (the SDK's defaults and ``options``) whose connections go to checked
    addresses only, redirects' included. It connects directly, never through the environment's
    proxy, which would resolve the name again after the check."""
    transport = httpx2.AsyncHTTPTransport(limits=SDK_LIMITS)
    # httpx takes no network backend of its own; its pool does.
    transport._pool._network_backend = _CheckedBackend()
    return openai.DefaultAsyncHttpxClient(transport=transport, **options)
