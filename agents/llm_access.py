"""The one door from agents/ to language models and embeddings.

Everything agents need of the model catalog, the user's or the server's credentials (the llm
app's ``model_resolve``), the gateway with tools, usage accounting (the llm app's) and the local
embedder comes through here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from accounts.models import User
from llm.catalog import ModelSpec, ModelUnavailable, UnknownModel, default_model_check
from llm.credentials import model_resolve
from llm.services import usage_cost, usage_for_user
from providers.embeddings import EmbeddingError, get_embedder
from providers.llm import (
    ChatStream,
    Completion,
    LLMCredentials,
    ProviderError,
    ProviderUnavailable,
    StreamChunk,
    ToolCall,
    Usage,
    get_gateway,
)

__all__ = [
    "ChatStream",
    "Completion",
    "EmbeddingError",
    "ModelCall",
    "ModelUnavailable",
    "ProviderError",
    "ProviderUnavailable",
    "StreamChunk",
    "ToolCall",
    "UnknownModel",
    "Usage",
    "default_model_check",
    "embed",
    "embedder_name",
    "model_for_user",
    "usage_add",
]


@dataclass(frozen=True)
class ModelCall:
    """A model resolved for one user: what to send where, and how to price the answer."""

    spec: ModelSpec
    credentials: LLMCredentials

    @property
    def model_id(self) -> str:
        return self.spec.id

    def cost(self, usage: Usage) -> Decimal:
        return usage_cost(model=self.spec, usage=usage)

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        options: dict[str, Any] | None = None,
    ) -> Completion:
        return await get_gateway().complete(
            credentials=self.credentials,
            model=self.spec.upstream_id,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            tools=tools,
            tool_choice="auto" if tools else None,
            options=options,
        )

    def stream(
        self,
        *,
        messages: list[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatStream:
        return get_gateway().stream(
            credentials=self.credentials,
            model=self.spec.upstream_id,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            tools=tools,
            tool_choice="auto" if tools else None,
        )


def model_for_user(*, user: User, model_id: str, temperature: float | None = None) -> ModelCall:
    """``model_id`` with the user's own key for its provider, else the server's (sync: it reads
    the user's key). Raises UnknownModel (404) or ModelUnavailable (400); a temperature out of
    the model's range is a ValidationFailed."""
    resolved = model_resolve(user=user, model_id=model_id)
    resolved.model.resolve_temperature(temperature)
    return ModelCall(spec=resolved.model, credentials=resolved.credentials)


def usage_add(*, user_id: Any, usage: Usage, cost_usd: Decimal) -> None:
    """Count one agent turn's tokens and cost in the user's daily usage, like a chat answer."""
    usage_for_user(user_id=user_id, usage=usage, cost=cost_usd)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of ``texts`` from the configured embedder (the local one by default)."""
    return get_embedder().embed(list(texts))


def embedder_name() -> str:
    """Names the vector space ``embed`` answers in: vectors of different names never mix."""
    return get_embedder().name
