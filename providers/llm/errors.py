"""What can go wrong upstream, as our own errors: no HTTP status or SDK exception leaves here.

Plain exceptions with a stable ``code``, a ``message`` and ``details``; what they mean to our API
(their HTTP status) is decided by the app that uses them (llm/apps.py registers it with core's
error handler):

========================  ==========================================================
code                      meaning
========================  ==========================================================
PROVIDER_UNAVAILABLE      unreachable, timed out, 5xx, or failed mid-answer
PROVIDER_AUTH_FAILED      the provider refused the API key (401/403 upstream)
CONTEXT_TOO_LONG          the prompt does not fit the model's context window
RATE_LIMITED_UPSTREAM     the provider's rate limit or quota; ``retry_after`` when known
PROVIDER_ERROR            any other refusal (unknown model, invalid parameter, ...)
PROVIDER_ADDRESS_REFUSED  a user's base URL resolves to the server's own network (loopback,
                          link-local, ...) and LLM_ALLOW_LOCAL_BASE_URLS is off
========================  ==========================================================

``details`` always names ``provider`` and ``model``, and carries ``upstream_status`` and the
provider's own ``upstream_message`` (secrets scrubbed) when there was one. Never the API key.
"""

from typing import Any


class ProviderError(Exception):
    """The provider refused the request in a way retrying will not fix."""

    code = "PROVIDER_ERROR"
    default_message = "The model provider refused the request."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class ProviderUnavailable(ProviderError):
    code = "PROVIDER_UNAVAILABLE"
    default_message = "The model provider is unavailable."


class ProviderAuthFailed(ProviderError):
    code = "PROVIDER_AUTH_FAILED"
    default_message = "The model provider rejected the API key."


class ContextTooLong(ProviderError):
    code = "CONTEXT_TOO_LONG"
    default_message = "The conversation is too long for this model's context window."


class RateLimitedUpstream(ProviderError):
    code = "RATE_LIMITED_UPSTREAM"
    default_message = "The model provider's rate limit was reached."


class ProviderAddressRefused(ProviderError):
    code = "PROVIDER_ADDRESS_REFUSED"
    default_message = "The provider's base URL reaches this server's own network."
