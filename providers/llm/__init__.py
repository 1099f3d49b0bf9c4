"""LLM providers: the gateway (complete, stream), token counts, Ollama pulls, and our errors."""

from providers.llm.errors import (
    ContextTooLong,
    ProviderAuthFailed,
    ProviderError,
    ProviderUnavailable,
    RateLimitedUpstream,
)
from providers.llm.gateway import ChatStream, LLMGateway, get_gateway
from providers.llm.types import (
    Completion,
    LLMCredentials,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)

__all__ = [
    "ChatStream",
    "Completion",
    "ContextTooLong",
    "LLMCredentials",
    "LLMGateway",
    "Message",
    "ProviderAuthFailed",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitedUpstream",
    "StreamChunk",
    "ToolCall",
    "Usage",
    "get_gateway",
]
