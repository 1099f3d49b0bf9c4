"""The tool loop: one agent answers one message on the OpenAI tools protocol.

The model sees the agent's tools; each call it makes is checked against the tool's JSON
schema and run (read tools answer from the request's context, write tools add actions); the
results go back to it, until it answers in words or ``max_iterations`` model calls were made.
A call that is malformed (unknown tool, arguments that are not JSON or do not fit the schema) is
explained to the model once; a second malformed round fails the turn, and a failed turn returns
no actions: the client applies all of a turn or nothing of it.
"""

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.actions import action_destructive, action_propose
from agents.llm_access import ModelCall, ToolCall, Usage
from agents.registry import AgentSpec, ToolOutcome, TurnContext
from core.errors import EngramError
from core.parsers import JSONInputError, json_loads

TOOL_RESULT_CHARS = 20_000  # a tool result longer than this is cut before the model sees it
AWAITS_CONFIRMATION = (
    "Not done yet: the user is shown this and asked to confirm it; it happens only if they do. "
    "Tell them it awaits their confirmation."
)
TokenSink = Callable[[str], Awaitable[None]]


class AgentFailed(EngramError):
    status_code = 502
    code = "AGENT_FAILED"
    default_message = "The agent could not complete the request."


@dataclass
class LoopState:
    """What one turn gathered so far; ``usage`` and ``llm_ms`` add up every model call."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    tools_called: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    llm_ms: float = 0.0
    iterations: int = 0

    def add_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.usage = Usage(
                self.usage.prompt_tokens + usage.prompt_tokens,
                self.usage.completion_tokens + usage.completion_tokens,
                self.usage.estimated or usage.estimated,
            )


@dataclass(frozen=True)
class AgentAnswer:
    agent: str
    response: str
    actions: list[dict[str, Any]]
    proposals: list[dict[str, Any]] = field(default_factory=list)  # awaiting the user
    applied: list[dict[str, Any]] = field(default_factory=list)  # done on the server's records


async def _ask(
    call: ModelCall,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    temperature: float | None,
    state: LoopState,
    on_token: TokenSink | None,
) -> tuple[str, tuple[ToolCall, ...]]:
    started = time.perf_counter()
    try:
        if on_token is None:
            completion = await call.complete(
                messages=messages, temperature=temperature, tools=tools
            )
            state.add_usage(completion.usage)
            return completion.text, completion.tool_calls
        parts: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        async with call.stream(messages=messages, temperature=temperature, tools=tools) as chunks:
            async for chunk in chunks:
                if chunk.final:
                    state.add_usage(chunk.usage)
                    calls = chunk.tool_calls
                elif chunk.delta:
                    parts.append(chunk.delta)
                    await on_token(chunk.delta)
        return "".join(parts), calls
    finally:
        state.llm_ms += (time.perf_counter() - started) * 1000


def _arguments(spec: AgentSpec, call: ToolCall) -> tuple[dict[str, Any] | None, str | None]:
    """The call's parsed arguments, or why they cannot be used."""
    tool = spec.tool(call.name)
    if tool is None:
        return None, f"There is no tool named '{call.name}'. Use one of: " + ", ".join(
            t.name for t in spec.tools
        )
    try:
        arguments = json_loads(call.arguments or "{}")
    except JSONInputError as exc:
        return None, f"The arguments of {call.name} are not valid JSON ({exc})."
    problem = tool.arguments_problem(arguments)
    if problem:
        return None, f"The arguments of {call.name} do not fit its schema: {problem}."
    return arguments, None


async def _run_tool(
    spec: AgentSpec, name: str, arguments: dict, context: TurnContext
) -> ToolOutcome:
    tool = spec.tool(name)
    assert tool is not None
    outcome = tool.run(arguments, context)
    return await outcome if inspect.isawaitable(outcome) else outcome


def _tool_message(call: ToolCall, result: Any) -> dict[str, Any]:
    content = json.dumps(result, default=str)[:TOOL_RESULT_CHARS]
    return {"role": "tool", "tool_call_id": call.id, "content": content}


async def agent_answer(
    *,
    spec: AgentSpec,
    call: ModelCall,
    messages: list[dict[str, Any]],
    context: TurnContext,
    state: LoopState,
    max_iterations: int,
    temperature: float | None = None,
    on_token: TokenSink | None = None,
) -> AgentAnswer:
    """Run ``spec`` on ``messages`` (system prompt, history, the user's message) until it
    answers. Raises AgentFailed (the iteration cap, malformed calls twice) or a ProviderError;
    either way the actions gathered are dropped. A destructive action (``action_destructive``)
    is a proposal, never an action: nothing the model writes confirms it."""
    messages = list(messages)
    tools = spec.tool_definitions()
    actions: list[dict[str, Any]] = []
    proposals: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    explained = False
    for _ in range(max_iterations):
        state.iterations += 1
        text, calls = await _ask(call, messages, tools, temperature, state, on_token)
        if not calls:
            state.actions.extend(actions)
            return AgentAnswer(
                agent=spec.name,
                response=text,
                actions=actions,
                proposals=proposals,
                applied=applied,
            )
        messages.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [c.as_message_part() for c in calls],
            }
        )
        problems = []
        for tool_call in calls:
            arguments, problem = _arguments(spec, tool_call)
            if problem is not None:
                problems.append(problem)
                messages.append(_tool_message(tool_call, {"error": problem}))
                continue
            state.tools_called.append(tool_call.name)
            outcome = await _run_tool(spec, tool_call.name, arguments, context)
            result = outcome.result
            for action in outcome.actions:
                if action_destructive(action):
                    proposals.append(action_propose(action))
                    result = {"proposed": outcome.result, "status": AWAITS_CONFIRMATION}
                else:
                    actions.append(action)
            applied.extend(outcome.applied)
            if outcome.proposals:
                proposals.extend(action_propose(p) for p in outcome.proposals)
                result = {"proposed": outcome.result, "status": AWAITS_CONFIRMATION}
            messages.append(_tool_message(tool_call, result))
        if problems and explained:
            raise AgentFailed(
                "The model made malformed tool calls again after being told what was wrong.",
                # How many, not what: the problems quote the tools' schemas.
                details={"agent": spec.name, "malformed_calls": len(problems)},
            )
        explained = explained or bool(problems)
    raise AgentFailed(
        f"The agent did not finish within {max_iterations} model calls.",
        details={"agent": spec.name, "max_iterations": max_iterations},
    )
