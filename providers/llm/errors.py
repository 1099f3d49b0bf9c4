"""What can go wrong upstream, as our own errors: no HTTP status or SDK exception leaves here.

Each is an ``EngramError``, so an API view that lets one escape answers in the error shape with
its stable code:

========================  ======  ==========================================================
code                      status  meaning
========================  ======  ==========================================================
PROVIDER_UNAVAILABLE      503     unreachable, timed out, 5xx, or failed mid-answer
PROVIDER_AUTH_FAILED      502     the provider refused the API key (401/403 upstream). Not 401:
                                  the caller's own Engram credentials are fine, and a 401 would
                                  make clients sign the user out.
CONTEXT_TOO_LONG          400     the prompt does not fit the model's context window
RATE_LIMITED_UPSTREAM     429     the provider's rate limit or quota; ``retry_after`` when known
PROVIDER_ERROR            502     any other refusal (unknown model, invalid parameter, ...)
========================  ======  ==========================================================

``details`` always names ``provider`` and ``model``, and carries ``upstream_status`` and the
provider's own ``upstream_message`` (secrets scrubbed) when there was one. Never the API key.
"""

from core.errors import EngramError, ErrorCode


class ProviderError(EngramError):
    """The provider refused the request in a way retrying will not fix."""

    status_code = 502
    code = ErrorCode.PROVIDER_ERROR
    default_message = "The model provider refused the request."


class ProviderUnavailable(ProviderError):
    status_code = 503
    code = ErrorCode.PROVIDER_UNAVAILABLE
    default_message = "The model provider is unavailable."


class ProviderAuthFailed(ProviderError):
    status_code = 502
    code = ErrorCode.PROVIDER_AUTH_FAILED
    default_message = "The model provider rejected the API key."


class ContextTooLong(ProviderError):
    status_code = 400
    code = ErrorCode.CONTEXT_TOO_LONG
    default_message = "The conversation is too long for this model's context window."


class RateLimitedUpstream(ProviderError):
    status_code = 429
    code = ErrorCode.RATE_LIMITED_UPSTREAM
    default_message = "The model provider's rate limit was reached."
