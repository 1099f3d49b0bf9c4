"""Completions for a user: the catalog model, the user's key or the server's, usage recorded."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings

from accounts.models import ProviderKey, User
from accounts.services import provider_key_set
from billing.services import usage_record
from llm.catalog import ModelSpec, get_catalog
from llm.credentials import ResolvedModel, model_resolve
from llm.loop import background_loop
from providers.llm import ChatStream, Completion, LLMCredentials, LLMGateway, Usage, get_gateway

# Sync callers' requests all run on the background loop, so they share this gateway and its
# connection pool; the web server's own loop uses providers.llm.get_gateway().
_sync_gateway = LLMGateway()


def usage_cost(*, model: ModelSpec, usage: Usage) -> Decimal:
    """What ``usage`` of ``model`` cost in USD by the catalog's prices (0 when it has none)."""
    return model.estimate_cost(usage) or Decimal(0)


def usage_for_user(*, user_id: Any, usage: Usage, cost: Decimal) -> None:
    """Add ``usage`` and its ``cost`` to the user's usage of today."""
    usage_record(
        user_id=user_id,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=cost,
    )


def complete_for_user(
    *,
    user: User,
    model_id: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    options: Mapping[str, Any] | None = None,
) -> Completion:
    """One non-streamed answer from ``model_id`` with the user's key or the server's, from sync
    code (tasks). Raises UnknownModel, ModelUnavailable or a ProviderError; records the usage.

    ``options``: further request fields sent as they are (``response_format``, ``temperature``).
    """
    resolved = model_resolve(user=user, model_id=model_id)
    completion = background_loop.submit(
        _sync_gateway.complete(
            credentials=resolved.credentials,
            model=resolved.model.upstream_id,
            messages=messages,
            max_tokens=max_tokens,
            options=options,
        )
    ).result()
    cost = usage_cost(model=resolved.model, usage=completion.usage)
    usage_for_user(user_id=user.pk, usage=completion.usage, cost=cost)
    return completion


def stream_for_user(
    *,
    resolved: ResolvedModel,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None = None,
    options: Mapping[str, Any] | None = None,
    gateway: LLMGateway | None = None,
) -> ChatStream:
    """A streamed answer from a model resolved with ``model_resolve`` (in sync code), on the
    caller's event loop through this process's gateway. The caller records the usage when the
    stream ends (``usage_cost`` and ``usage_for_user``), as only it knows how far it got."""
    return (gateway or get_gateway()).stream(
        credentials=resolved.credentials,
        model=resolved.model.upstream_id,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        options=options,
    )


def provider_key_save(
    *, user: User, provider: str, api_key: str, base_url: str = ""
) -> tuple[ProviderKey, bool | None]:
    """Store ``user``'s key for ``provider`` (``accounts.services.provider_key_set``: its checks
    and errors), then ask the provider whether it accepts it: the key and True, False (it
    refused the key) or None (it could not be asked: it is down, or its API cannot tell). The
    key is stored whatever the answer: a provider's outage never fails a save."""
    key = provider_key_set(user=user, provider=provider, api_key=api_key, base_url=base_url)
    return key, provider_key_check(provider=provider, api_key=api_key, base_url=base_url)


def provider_key_check(*, provider: str, api_key: str, base_url: str = "") -> bool | None:
    """Whether ``provider`` (at ``base_url``, else its configured one) accepts ``api_key``,
    asked with its models list where the catalog says that tells (``key_check``); None when
    it does not or it cannot be asked. Waits at most LLM_KEY_CHECK_TIMEOUT seconds."""
    spec = get_catalog().providers.get(provider)
    url = base_url or (spec.chat_base_url if spec else "")
    if spec is None or not spec.key_check or not url:
        return None
    credentials = LLMCredentials(provider, url, api_key, base_url_from_user=bool(base_url))
    check = _sync_gateway.key_check(credentials=credentials, timeout=settings.LLM_KEY_CHECK_TIMEOUT)
    return background_loop.submit(check).result()
