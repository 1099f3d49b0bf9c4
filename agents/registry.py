"""The agents and their tools: who is there, what each can do, and what the model may call.

An agent registers a name, a description and examples (the local router matches messages to
them), its system prompt's template id, its tools (JSON schema per tool) and the tier feature
that counts it. ``registry`` is the one instance; ``agents.builtin`` fills it at import.
"""

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from agents.actions import action_check
from core.errors import NotFound


@dataclass
class TurnContext:
    """What one turn's tools can see: the client's context, and what earlier tools found.

    ``search_memories`` is the memory search for this user (async: it reads the database).
    ``owner`` is set when the request asked for the server's records (``records: server``): the
    user whose tasks and projects the tools then read and change, instead of the client's.
    """

    data: dict[str, Any]
    search_memories: Callable[[str, int], Awaitable[list[dict[str, Any]]]] | None = None
    notes_read: set[str] = field(default_factory=set)
    owner: Any = None

    def records(self, key: str) -> list[dict[str, Any]]:
        value = self.data.get(key)
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


@dataclass(frozen=True)
class ToolOutcome:
    """What the model is told (``result``, JSON) and the actions the call adds.

    On the server's records, ``applied`` are the changes the call made (reported in the answer,
    nothing for the client to apply) and ``proposals`` the ones that wait for the user's
    confirmation (a deletion, an archiving), applied on the server once confirmed."""

    result: Any
    actions: tuple[dict[str, Any], ...] = ()
    applied: tuple[dict[str, Any], ...] = ()
    proposals: tuple[dict[str, Any], ...] = ()

    @classmethod
    def refused(cls, reason: str) -> "ToolOutcome":
        return cls(result={"error": reason})


ToolRun = Callable[[dict[str, Any], TurnContext], ToolOutcome | Awaitable[ToolOutcome]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolRun
    writes: bool = False

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.parameters)

    @functools.cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.parameters)

    def openai(self) -> dict[str, Any]:
        """The tool as the OpenAI tools protocol describes it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def arguments_problem(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not fit the schema, or None when they do."""
        error = best_match(self.validator.iter_errors(arguments))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        return f"{where}: {error.message}"


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    prompt_id: str  # its system prompt, a template in agents/prompts
    tools: tuple[Tool, ...]
    examples: tuple[str, ...] = ()
    position: int = 0  # tier limits count agents in this order (a free plan gets the first 3)
    feature: str = "agents"  # the tier feature that counts it

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def tool_definitions(self) -> list[dict[str, Any]]:
        return [tool.openai() for tool in self.tools]

    def schema_texts(self) -> list[str]:
        """Its tools' descriptions and schemas as text: server internals the sanitizer knows."""
        return [json.dumps(tool.openai(), sort_keys=True) for tool in self.tools] + [
            tool.description for tool in self.tools
        ]


class UnknownAgent(NotFound):
    default_message = "No agent with this name."


class Registry:
    def __init__(self) -> None:
        self._agents: dict[str, AgentSpec] = {}

    def register(self, spec: AgentSpec) -> AgentSpec:
        if spec.name in self._agents:
            raise ValueError(f"An agent named {spec.name!r} is already registered.")
        self._agents[spec.name] = spec
        return spec

    def get(self, name: str) -> AgentSpec:
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgent(
                f"No agent named '{name}'.", details={"agent": [f"Known: {', '.join(self.names)}"]}
            ) from None

    def all(self) -> list[AgentSpec]:
        """In ``position`` order: the order tier limits count them in."""
        return sorted(self._agents.values(), key=lambda spec: spec.position)

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.all()]


registry = Registry()


def write_outcome(result: Any, *actions: dict[str, Any]) -> ToolOutcome:
    return ToolOutcome(result=result, actions=tuple(action_check(a) for a in actions))
