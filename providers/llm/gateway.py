"""The LLM gateway: every chat completion Engram asks of any provider goes through here.

Every provider is spoken to with the OpenAI chat-completions protocol at its own base URL
(OpenAI, Anthropic's and Gemini's OpenAI-compatible endpoints, xAI, OpenRouter, Ollama, vLLM,
LM Studio), with the credentials the caller hands in. What the gateway adds:

- timeouts: ``LLM_CONNECT_TIMEOUT`` to connect, ``LLM_READ_TIMEOUT`` of silence at most while
  waiting for the answer or between two chunks of a stream;
- retries with exponential backoff and jitter (``LLM_MAX_RETRIES``, ``LLM_RETRY_BASE_DELAY``,
  ``LLM_RETRY_MAX_DELAY``) on 429, 5xx, timeouts and connection errors, honouring the
  provider's Retry-After; a stream is retried only before its first token, never after;
- cancellation: closing a stream, or cancelling the task that reads it, closes the upstream
  HTTP response at once (the provider stops generating and billing);
- errors translated to ``providers.llm.errors``; no SDK exception leaves this module;
- usage on every answer: the provider's numbers, else our own count (``Usage.estimated``).

One HTTP connection pool is shared by all requests made on one event loop. Errors are
translated in upstream_errors.py, streamed answers read by sse_client.py; what stays here (over
400 lines) is the retry and stream loops, which share their state.
"""

import asyncio
import json
import logging
import random
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
import openai
from django.conf import settings

from providers.llm import tokens
from providers.llm.addresses import checked_address, checked_http_client
from providers.llm.errors import (
    ProviderError,
    ProviderUnavailable,
    RateLimitedUpstream,
)
from providers.llm.metrics import record_call
from providers.llm.sse_client import SSEClient, SSEParser
from providers.llm.tool_calls import ToolCallAssembler, tool_calls_of
from providers.llm.types import Completion, LLMCredentials, Message, StreamChunk, Usage
from providers.llm.upstream_errors import MidStreamError, translate_error

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The SDK builds and sends the request (base URL, auth, headers, timeouts, status errors); the
# body goes as it is and the answer is read as JSON here. The SDK's typed path would validate
# the request and build a typed object per stream chunk: about 10x the CPU per token, and
# milliseconds per request for a long conversation, which decides how many concurrent streams
# and how quick a first token one process can give.
_CHAT_PATH = "/chat/completions"

# Sent as the bearer token to servers that need none: the SDK insists on some key, and an empty
# one would make it read OPENAI_API_KEY from the environment and send the server's key.
NO_KEY = "no-key"


class ChatStream:
    """An async iterator of ``StreamChunk`` that can be closed, and is an async context manager.

    ``async with gateway.stream(...) as chunks: async for chunk in chunks: ...`` closes the
    upstream response however the block is left; so does ``await chunks.aclose()``.
    """

    def __init__(self, chunks: AsyncIterator[StreamChunk]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> "ChatStream":
        return self

    async def __anext__(self) -> StreamChunk:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> "ChatStream":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class LLMGateway:
    """Chat completions against any OpenAI-compatible provider.

    Timeouts and retry settings default to the ``LLM_*`` settings, read at each call; the
    constructor arguments override them (tests, one-off tasks). Use one gateway per process
    (``get_gateway()``) in the web server; a short-lived event loop (a Celery task running
    ``asyncio.run``) should use ``async with LLMGateway() as gateway:`` so its connections
    are closed with it.
    """

    def __init__(
        self,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int | None = None,
        retry_base_delay: float | None = None,
        retry_max_delay: float | None = None,
    ) -> None:
        self._overrides = {
            "LLM_CONNECT_TIMEOUT": connect_timeout,
            "LLM_READ_TIMEOUT": read_timeout,
            "LLM_MAX_RETRIES": max_retries,
            "LLM_RETRY_BASE_DELAY": retry_base_delay,
            "LLM_RETRY_MAX_DELAY": retry_max_delay,
        }
        # Keyed by whether its connections go to checked addresses only (a user's base URL).
        self._http: dict[bool, Any] = {}
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._sse: SSEClient | None = None
        self._sse_loop: asyncio.AbstractEventLoop | None = None

    # --- public API ------------------------------------------------------------------------

    async def complete(
        self,
        *,
        credentials: LLMCredentials,
        model: str,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Completion:
        """One whole answer. Raises a ``ProviderError`` subclass when there is none.

        ``model`` is the id the provider knows; ``options`` are further request fields passed
        through as they are (``top_p``, ``stop``, ``response_format``, ...). ``tools`` (OpenAI
        function definitions) and ``tool_choice`` are sent when given; the calls the model
        makes come back in ``Completion.tool_calls``.
        """
        client = self._client(credentials)
        body = _request(model, messages, temperature, max_tokens, options, tools, tool_choice)

        async def call() -> Any:
            response = await client.post(_CHAT_PATH, cast_to=httpx2.Response, body=body)
            return json.loads(response.content)

        started = time.perf_counter()
        try:
            answer = await self._with_retries(call, credentials, model)
        except ProviderError as error:
            record_call(provider=credentials.provider, mode="complete", started=started,
                        usage=None, outcome=str(error.code))  # fmt: skip
            raise
        choices = answer.get("choices") or [{}]
        message = choices[0].get("message") or {}
        text = message.get("content") or ""
        calls = tool_calls_of(message)
        usage = _usage(answer.get("usage"), messages, text + _arguments(calls), model)
        record_call(provider=credentials.provider, mode="complete", started=started, usage=usage)
        return Completion(
            text=text,
            finish_reason=choices[0].get("finish_reason"),
            usage=usage,
            model=answer.get("model") or model,
            tool_calls=calls,
        )

    def stream(
        self,
        *,
        credentials: LLMCredentials,
        model: str,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> ChatStream:
        """The answer as it is generated: ``StreamChunk(delta=...)`` with the text that arrived
        (a token, or several when they came together), then one
        ``StreamChunk(final=True, finish_reason=..., usage=..., tool_calls=...)`` carrying the
        tool calls the model streamed, assembled.

        Failures before the first delta are retried like ``complete``; after it, the stream
        raises ``ProviderUnavailable`` (or another ``ProviderError``) and the caller keeps what
        it has received.
        """
        body = _request(model, messages, temperature, max_tokens, options, tools, tool_choice)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return ChatStream(self._stream(credentials, model, messages, body))

    async def key_check(self, *, credentials: LLMCredentials, timeout: float) -> bool | None:
        """Whether the provider accepts ``credentials``' key, asked with its models list (no
        tokens spent): True when it lists them, False when it refuses the key (401/403), None
        when it gives no answer that says (unreachable, timed out, another status). One call
        of at most ``timeout`` seconds, never retried: the caller does not wait for an outage.
        """
        client = self._client(credentials).with_options(
            timeout=openai.Timeout(
                timeout, connect=min(timeout, self._setting("LLM_CONNECT_TIMEOUT"))
            )
        )
        try:
            await client.get("/models", cast_to=httpx2.Response)
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            return False
        except Exception as exc:  # down, refused address, a server without the list
            logger.info("Could not check a %s key: %s", credentials.provider, type(exc).__name__)
            return None
        return True

    async def aclose(self) -> None:
        """Close the connection pool (only needed for gateways made for one short event loop)."""
        if self._http_loop is asyncio.get_running_loop():
            for http in self._http.values():
                await http.aclose()
        if self._sse is not None and self._sse_loop is asyncio.get_running_loop():
            self._sse.close()
        self._http, self._http_loop = {}, None
        self._sse = self._sse_loop = None

    async def __aenter__(self) -> "LLMGateway":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- internals -------------------------------------------------------------------------

    def _setting(self, name: str) -> Any:
        value = self._overrides[name]
        return getattr(settings, name) if value is None else value

    def _http_client(self, checked: bool) -> Any:
        # An HTTP pool belongs to the event loop it was first used on; a new loop gets its own.
        loop = asyncio.get_running_loop()
        if self._http_loop is not loop:
            self._http, self._http_loop = {}, loop
        if checked not in self._http:
            # The SDK's defaults: up to 1,000 connections (one per concurrent stream), 100 kept.
            # A checked client connects directly: an environment's proxy would resolve the
            # name itself, after our check.
            self._http[checked] = (
                checked_http_client() if checked else openai.DefaultAsyncHttpxClient()
            )
        return self._http[checked]

    def _client(self, credentials: LLMCredentials) -> openai.AsyncOpenAI:
        timeout = openai.Timeout(
            self._setting("LLM_READ_TIMEOUT"), connect=self._setting("LLM_CONNECT_TIMEOUT")
        )
        client = openai.AsyncOpenAI(
            api_key=credentials.api_key or NO_KEY,
            base_url=credentials.base_url,
            http_client=self._http_client(credentials.base_url_from_user),
            max_retries=0,  # ours, below: the SDK's would also retry after the first token
            timeout=timeout,
        )
        # The SDK would add OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment to requests to
        # every provider; Engram sends nothing the caller did not hand in.
        client.organization = None
        client.project = None
        return client

    async def _with_retries(
        self, call: Callable[[], Awaitable[T]], credentials: LLMCredentials, model: str
    ) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                error = translate_error(exc, provider=credentials.provider, model=model)
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise error from exc
            self._log_retry(error, attempt, delay, credentials, model)
            await asyncio.sleep(delay)
            attempt += 1

    async def _stream(
        self,
        credentials: LLMCredentials,
        model: str,
        messages: list[Message],
        body: dict[str, Any],
    ) -> AsyncIterator[StreamChunk]:
        started = time.perf_counter()
        attempt = 0
        parts: list[str] = []
        finish_reason: str | None = None
        reported_usage: dict[str, Any] | None = None
        while True:
            response: _OpenStream | None = None
            answered = False
            # A retry starts over: the calls of a failed attempt are not the model's answer.
            calls = ToolCallAssembler()
            try:
                response = await self._open_stream(credentials, body)
                # Every delta that arrived since the last wake-up goes on as one chunk: one
                # token per chunk while we keep up, fewer and larger chunks when the process
                # is behind (hundreds of streams), instead of falling further behind per token.
                async for batch in response.batches:
                    deltas: list[str] = []
                    ended, failure = False, None
                    for data in batch:
                        if data == "[DONE]":
                            ended = True
                            break
                        payload = json.loads(data)
                        if not isinstance(payload, dict):
                            continue
                        if payload.get("error"):
                            failure = payload["error"]
                            break
                        if isinstance(payload.get("usage"), dict):
                            reported_usage = payload["usage"]
                        for choice in payload.get("choices") or ():
                            finish_reason = choice.get("finish_reason") or finish_reason
                            delta = choice.get("delta") or {}
                            if delta.get("content"):
                                deltas.append(delta["content"])
                            if delta.get("tool_calls"):
                                calls.add(delta["tool_calls"])
                    if deltas:  # kept even when the provider fails right after them
                        parts.append("".join(deltas))
                        yield StreamChunk(delta=parts[-1])
                    if failure:
                        raise MidStreamError(failure)
                    if ended:
                        break
                answered = True
                break
            except Exception as exc:
                error = translate_error(exc, provider=credentials.provider, model=model)
                delay = None if parts else self._retry_delay(error, attempt)
                if delay is None:
                    if parts:
                        error.details["partial"] = True
                    record_call(provider=credentials.provider, mode="stream", started=started,
                                usage=None, outcome=str(error.code))  # fmt: skip
                    raise error from exc
            finally:
                # Runs on success, on error, and when the consumer closes us or is cancelled at
                # the yield (GeneratorExit / CancelledError): the upstream response is closed,
                # so the provider sees the connection go away and stops generating.
                if response is not None:
                    await response.close(answered)
            self._log_retry(error, attempt, delay, credentials, model)
            await asyncio.sleep(delay)
            attempt += 1
        text = "".join(parts)
        made = calls.calls()
        usage = _usage(reported_usage, messages, text + _arguments(made), model)
        record_call(provider=credentials.provider, mode="stream", started=started, usage=usage)
        yield StreamChunk(final=True, finish_reason=finish_reason, usage=usage, tool_calls=made)

    async def _open_stream(
        self, credentials: LLMCredentials, body: dict[str, Any]
    ) -> "_OpenStream":
        """POST a streamed request; its events come in batches. Through our own HTTP/1.1
        reader (providers.llm.sse_client), or through the SDK when a proxy is configured for
        the provider's host, since only httpx knows the environment's proxy settings."""
        url = credentials.base_url.rstrip("/") + _CHAT_PATH
        if _proxied(url) and not credentials.base_url_from_user:
            client = self._client(credentials)
            response = await client.post(
                _CHAT_PATH, cast_to=httpx2.Response, body=body, stream=True, stream_cls=None
            )

            async def close_sdk(answered: bool) -> None:
                await response.aclose()

            return _OpenStream(_sdk_batches(response.aiter_bytes()), close_sdk)
        loop = asyncio.get_running_loop()
        if self._sse is None or self._sse_loop is not loop:
            self._sse, self._sse_loop = SSEClient(), loop
        streamed = await self._sse.post_stream(
            url,
            headers={
                "Authorization": f"Bearer {credentials.api_key or NO_KEY}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream",
                "User-Agent": "Engram",
            },
            body=json.dumps(body, separators=(",", ":")).encode(),
            connect_timeout=self._setting("LLM_CONNECT_TIMEOUT"),
            read_timeout=self._setting("LLM_READ_TIMEOUT"),
            resolve=checked_address if credentials.base_url_from_user else None,
        )

        async def close(answered: bool) -> None:
            streamed.close(answered=answered)

        return _OpenStream(streamed.batches(), close)

    def _retry_delay(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when this error is final."""
        retryable = isinstance(error, ProviderUnavailable) or (
            isinstance(error, RateLimitedUpstream) and not error.details.get("quota_exhausted")
        )
        if not retryable or attempt >= self._setting("LLM_MAX_RETRIES"):
            return None
        max_delay = self._setting("LLM_RETRY_MAX_DELAY")
        retry_after = error.details.get("retry_after")
        if retry_after is not None:
            # Waiting longer than we would back off is the caller's decision, not ours.
            return float(retry_after) if retry_after <= max_delay else None
        backoff = min(max_delay, self._setting("LLM_RETRY_BASE_DELAY") * 2**attempt)
        return backoff * random.uniform(0.5, 1.0)

    @staticmethod
    def _log_retry(
        error: ProviderError,
        attempt: int,
        delay: float | None,
        credentials: LLMCredentials,
        model: str,
    ) -> None:
        logger.warning(
            "LLM %s/%s: %s (%s); retry %d in %.2fs",
            credentials.provider,
            model,
            error.code,
            error.details.get("upstream_status", "no status"),
            attempt + 1,
            delay,
        )


def _request(
    model: str,
    messages: list[Message],
    temperature: float | None,
    max_tokens: int | None,
    options: Mapping[str, Any] | None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {**(options or {}), "model": model, "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if tools:
        body["tools"] = list(tools)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    return body


def _arguments(calls: tuple[Any, ...]) -> str:
    """The tool calls' text, counted as answer tokens when the provider reports no usage."""
    return "".join(call.name + call.arguments for call in calls)


def _usage(reported: Any, messages: list[Message], text: str, model: str) -> Usage:
    """The provider's usage, else our own count."""
    reported = reported if isinstance(reported, dict) else {}
    prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
    if isinstance(prompt, int):
        return Usage(prompt_tokens=prompt, completion_tokens=completion or 0)
    return Usage(
        prompt_tokens=tokens.count_message_tokens(messages, model),
        completion_tokens=tokens.count_tokens(text, model),
        estimated=True,
    )


@dataclass(frozen=True)
class _OpenStream:
    """A streamed response: its events' data in batches, and how to close it."""

    batches: AsyncIterator[list[str]]
    # Called with whether the answer was read to its end ([DONE]): only then may the
    # connection be kept for the next request.
    close: Callable[[bool], Awaitable[None]]


def _proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy (as httpx reads it)."""
    split = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(split.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(split.netloc)


async def _sdk_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """The events' data of a byte stream read through the SDK, a list per read."""
    parser = SSEParser()
    async for chunk in chunks:
        if batch := parser.feed(chunk):
            yield batch
    if last := parser.end():
        yield last


_default_gateway: LLMGateway | None = None


def get_gateway() -> LLMGateway:
    """The process's gateway; its connection pool is reused by every request on the loop."""
    global _default_gateway
    if _default_gateway is None:
        _default_gateway = LLMGateway()
    return _default_gateway
