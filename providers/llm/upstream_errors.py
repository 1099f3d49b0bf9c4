"""Everything that can go wrong upstream, translated to our errors (providers.llm.errors):
what the SDK raises, what our own streamed-answer client raises, and an error event inside a
stream. No SDK or HTTP exception leaves the gateway untranslated."""

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import openai

from core.logging import redact
from providers.llm.errors import (
    ContextTooLong,
    ProviderAuthFailed,
    ProviderError,
    ProviderUnavailable,
    RateLimitedUpstream,
)
from providers.llm.sse_client import UpstreamDisconnected, UpstreamStatus, UpstreamTimeout

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_CONTEXT_MESSAGE = re.compile(
    r"context length|context window|context_length|maximum context|prompt is too long"
    r"|too many (?:input )?tokens|input token count|reduce the length of the messages",
    re.IGNORECASE,
)
_UPSTREAM_MESSAGE_LIMIT = 500


class MidStreamError(Exception):
    """An ``{"error": {...}}`` event inside a stream: the provider failed while answering."""

    def __init__(self, error: Any) -> None:
        self.body = error if isinstance(error, dict) else {"message": str(error)}
        super().__init__(str(self.body.get("message") or "The provider failed mid-stream."))


def translate_error(exc: BaseException, *, provider: str, model: str) -> ProviderError:
    """Our error for anything the SDK (or the provider, through it) raised."""
    if isinstance(exc, ProviderError):
        exc.details.setdefault("provider", provider)
        exc.details.setdefault("model", model)
        return exc
    details: dict[str, Any] = {"provider": provider, "model": model}
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        return _status_error(exc.status_code, body, exc.response.headers, exc.message, details)
    if isinstance(exc, UpstreamStatus):
        return _status_error(*_read_status(exc), details)
    if isinstance(exc, UpstreamTimeout):
        return ProviderUnavailable(f"{provider} did not answer in time.", details=details)
    if isinstance(exc, UpstreamDisconnected | OSError):
        return ProviderUnavailable(f"Could not reach {provider}.", details=details)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(f"{provider} did not answer in time.", details=details)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"Could not reach {provider}.", details=details)
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderUnavailable(f"{provider} did not answer in time.", details=details)
    if isinstance(exc, httpx2.HTTPError | httpx2.StreamError):
        return ProviderUnavailable(f"Could not reach {provider}.", details=details)
    if isinstance(exc, MidStreamError | openai.APIError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or exc)
        _add_upstream_message(details, message)
        if _is_context_error(body.get("code"), message):
            return ContextTooLong(details=details)
        return ProviderUnavailable(f"{provider} failed while answering.", details=details)
    _add_upstream_message(details, str(exc))
    return ProviderError(f"{provider} sent an answer we could not read.", details=details)


def _read_status(
    exc: UpstreamStatus,
) -> tuple[int, dict[str, Any], Mapping[str, str], str]:
    """An error response read by our own client, as the SDK presents one: the body's "error"
    object (or the body) and "Error code: N - <its message>"."""
    message = f"Error code: {exc.status}"
    try:
        parsed = json.loads(exc.body.decode("utf-8", "replace").strip())
    except ValueError:
        return exc.status, {}, exc.headers, message
    body = parsed.get("error", parsed) if isinstance(parsed, dict) else None
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        message += f" - {body['message']}"
    return exc.status, body if isinstance(body, dict) else {}, exc.headers, message


def _status_error(
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str],
    fallback_message: str,
    details: dict[str, Any],
) -> ProviderError:
    # The SDK hands over the "error" object of OpenAI-style bodies; others may nest it.
    if isinstance(body.get("error"), dict):
        body = body["error"]
    message = body.get("message") if isinstance(body.get("message"), str) else fallback_message
    upstream_code = body.get("code") if isinstance(body.get("code"), str) else None
    details["upstream_status"] = status
    _add_upstream_message(details, message)
    provider = details["provider"]
    if status in (401, 403):
        return ProviderAuthFailed(f"{provider} rejected the API key.", details=details)
    if status == 429:
        retry_after = _retry_after(headers)
        if retry_after is not None:
            details["retry_after"] = retry_after
        if upstream_code == "insufficient_quota":
            details["quota_exhausted"] = True
        return RateLimitedUpstream(f"{provider}'s rate limit was reached.", details=details)
    if status in (400, 413, 422) and _is_context_error(upstream_code, message):
        return ContextTooLong(details=details)
    if status >= 500 or status == 408:
        return ProviderUnavailable(f"{provider} is unavailable ({status}).", details=details)
    return ProviderError(f"{provider} refused the request ({status}).", details=details)


def _is_context_error(code: Any, message: str | None) -> bool:
    return code in _CONTEXT_CODES or bool(message and _CONTEXT_MESSAGE.search(message))


def _add_upstream_message(details: dict[str, Any], message: str | None) -> None:
    if message:
        details["upstream_message"] = redact(message)[:_UPSTREAM_MESSAGE_LIMIT]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI) or ``retry-after`` (seconds or an HTTP date);
    None without one, or for one that is no finite number ("inf" would reach the client's
    Retry-After, and JSON, as no number at all)."""
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif (value := headers.get("retry-after")) is None:
            return None
        else:
            try:
                seconds = float(value)
            except ValueError:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
