"""The gateway's own vocabulary: what callers hand in and what they get back."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# One chat message in the OpenAI shape: {"role": "system"|"user"|"assistant", "content": str}
# (``content`` may also be a list of parts; ``name`` is allowed).
Message = Mapping[str, Any]


@dataclass(frozen=True)
class LLMCredentials:
    """Where to send one request and with which key; resolved by the caller, used as given.

    ``api_key`` may be empty for servers that need none (Ollama, a local vLLM). The gateway
    never falls back to environment variables, so a key can only go where it was sent.
    """

    provider: str
    base_url: str
    api_key: str = field(default="", repr=False)
    # The base URL came from a user, not the operator: the gateway connects only to addresses
    # outside the server's own network (providers.llm.addresses).
    base_url_from_user: bool = False


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # True when the provider reported none and we counted ourselves (see tokens.py).
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to have called (OpenAI tools protocol).

    ``arguments`` is the JSON text exactly as the model wrote it: it may be malformed, and the
    caller decides what to do about that.
    """

    id: str
    name: str
    arguments: str

    def as_message_part(self) -> dict[str, Any]:
        """The call as it goes back to the model in the assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str  # as the provider named it in its answer
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class StreamChunk:
    """A token delta (``final`` false), or the last chunk of a stream with its usage and the
    tool calls the model made, assembled from their deltas."""

    delta: str = ""
    final: bool = False
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
