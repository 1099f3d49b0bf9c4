"""Reading the OpenAI tools protocol's ``tool_calls`` out of answers, whole or streamed.

A streamed call arrives in pieces keyed by ``index``: the first names the call (``id``,
``function.name``), the rest append to ``function.arguments``. Malformed pieces are skipped:
what the model meant is judged by the caller, which validates the arguments.
"""

import json
from typing import Any

from providers.llm.types import ToolCall


def tool_calls_of(message: Any) -> tuple[ToolCall, ...]:
    """The tool calls of a non-streamed answer's ``message``."""
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    found = []
    for index, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        found.append(
            ToolCall(
                id=str(call.get("id") or f"call_{index}"),
                name=str(function.get("name") or ""),
                arguments=_text(function.get("arguments")),
            )
        )
    return tuple(found)


class ToolCallAssembler:
    """Collects the deltas of a stream's tool calls; ``calls()`` gives them whole, in order."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, Any]] = {}

    def add(self, deltas: Any) -> None:
        for position, delta in enumerate(deltas if isinstance(deltas, list) else ()):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", position)
            part = self._parts.setdefault(
                index if isinstance(index, int) else position,
                {"id": "", "name": "", "arguments": []},
            )
            if delta.get("id"):
                part["id"] = str(delta["id"])
            function = delta.get("function")
            if isinstance(function, dict):
                if function.get("name"):
                    part["name"] += str(function["name"])
                if function.get("arguments"):
                    part["arguments"].append(_text(function["arguments"]))

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(
                id=part["id"] or f"call_{index}",
                name=part["name"],
                arguments="".join(part["arguments"]),
            )
            for index, part in sorted(self._parts.items())
        )


def _text(arguments: Any) -> str:
    # Some servers send the arguments as an object instead of JSON text.
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return ""
    return json.dumps(arguments)
