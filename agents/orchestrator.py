"""The orchestrator: route a message to an agent (or take the ones asked for), run it, or a
pipeline of them with one synthesis call, or answer with a plan; and clean what goes out.

Routing asks a cheap model for ``{"agent", "confidence"}``; with no routing model for the
user, a provider failure, or an answer that is not JSON naming one of the user's agents, the
local embedding router decides. Everything here is async and touches no database: the caller
prepares the turn (``agents.services``) and records it afterwards.
"""

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents import prompts
from agents.llm_access import ModelCall, ProviderError
from agents.loop import AgentAnswer, LoopState, TokenSink, agent_answer
from agents.plans import agent_plan
from agents.registry import AgentSpec, TurnContext
from agents.router import Route, local_router
from agents.sanitizer import StreamSanitizer, clean_text, clean_value
from core.parsers import JSONInputError, json_loads

logger = logging.getLogger(__name__)
HISTORY_MESSAGES = 10  # of the client's conversation_history, the newest this many are shown
MEMORY_CHARS = 1_000
ROUTER_MAX_TOKENS = 60


@dataclass
class AgentTurn:
    """One prepared request: everything decided before the first model call."""

    user_id: Any
    run_id: uuid.UUID
    message: str
    context: dict[str, Any]
    mode: str  # "direct" or "plan"
    call: ModelCall
    router: ModelCall | None
    agents: list[AgentSpec]  # those the user may use: the routing candidates
    requested: list[AgentSpec] = field(default_factory=list)  # named in the request
    persona_prompt: str = ""
    temperature: float | None = None
    memories: list[dict[str, Any]] = field(default_factory=list)
    search_memories: Callable[[str, int], Awaitable[list[dict[str, Any]]]] | None = None
    max_iterations: int = 5
    owner: Any = None  # the user whose server-side tasks and projects the tools use (records)


@dataclass
class TurnResult:
    route: Route
    agents: list[str]
    response: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)  # awaiting the user's confirm
    applied: list[dict[str, Any]] = field(default_factory=list)  # done on the server's records
    plan: dict[str, Any] | None = None
    state: LoopState = field(default_factory=LoopState)
    sanitized_cuts: int = 0
    routing_ms: float = 0.0


# --- routing -------------------------------------------------------------------------------


def _routed(text: str, names: list[str]) -> Route | None:
    """The route in a router's answer, or None when the answer is unusable."""
    try:
        answer = json_loads(text)
    except (JSONInputError, TypeError):
        return None
    if not isinstance(answer, dict) or answer.get("agent") not in names:
        return None
    confidence = answer.get("confidence", 0.5)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return None
    return Route(
        agent=answer["agent"], confidence=min(max(float(confidence), 0.0), 1.0), method="llm"
    )


async def route_message(turn: AgentTurn, state: LoopState) -> Route:
    """Which of the user's agents should answer: the routing model's choice, else the local
    router's."""
    names = [spec.name for spec in turn.agents]
    if turn.router is not None:
        listing = "\n".join(f"- {spec.name}: {spec.description}" for spec in turn.agents)
        messages = [
            {"role": "system", "content": prompts.template("router").render(agents=listing)},
            {"role": "user", "content": turn.message},
        ]
        started = time.perf_counter()
        try:
            completion = await turn.router.complete(
                messages=messages,
                temperature=0,
                max_tokens=ROUTER_MAX_TOKENS,
                options={"response_format": {"type": "json_object"}},
            )
        except ProviderError as exc:
            logger.info("Routing model failed (%s); routing locally", exc.code)
        else:
            state.add_usage(completion.usage)
            route = _routed(completion.text, names)
            if route is not None:
                return route
            logger.info("Routing model answered no usable route; routing locally")
        finally:
            state.llm_ms += (time.perf_counter() - started) * 1000
    return local_router.route(turn.message, turn.agents)


# --- running agents ------------------------------------------------------------------------


def _system_prompt(turn: AgentTurn, spec: AgentSpec) -> str:
    parts = [turn.persona_prompt.strip()] if turn.persona_prompt.strip() else []
    parts.append(prompts.template(spec.prompt_id).text)
    parts.append(f"Now: {datetime.now(UTC).isoformat(timespec='minutes')} (UTC).")
    if turn.memories:
        quoted = "\n".join(f"- ({m['created']}) {m['text'][:MEMORY_CHARS]}" for m in turn.memories)
        header = prompts.template("memories").text
        parts.append(f"<memories>\n{header}\n{quoted}\n</memories>")
    return "\n\n".join(parts)


def _history(context: dict[str, Any]) -> list[dict[str, str]]:
    history = context.get("conversation_history") or []
    turns = [
        {"role": h["role"], "content": h["content"]}
        for h in history
        if isinstance(h, dict)
        and h.get("role") in ("user", "assistant")
        and isinstance(h.get("content"), str)
    ]
    return turns[-HISTORY_MESSAGES:]


def _messages(turn: AgentTurn, spec: AgentSpec, previous: list[AgentAnswer]) -> list[dict]:
    system = _system_prompt(turn, spec)
    if previous:
        done = "\n".join(f"[{a.agent}] {a.response}" for a in previous)
        system += f"\n\n<previous_results>\n{done}\n</previous_results>"
    return [
        {"role": "system", "content": system},
        *_history(turn.context),
        {"role": "user", "content": turn.message},
    ]


def _tool_context(turn: AgentTurn, previous: list[AgentAnswer]) -> TurnContext:
    data = dict(turn.context)
    if previous:
        data["previous_results"] = [{"agent": a.agent, "response": a.response} for a in previous]
    return TurnContext(data=data, search_memories=turn.search_memories, owner=turn.owner)


async def route_single(
    turn: AgentTurn, spec: AgentSpec, state: LoopState, on_token: TokenSink | None = None
) -> AgentAnswer:
    return await agent_answer(
        spec=spec,
        call=turn.call,
        messages=_messages(turn, spec, []),
        context=_tool_context(turn, []),
        state=state,
        max_iterations=turn.max_iterations,
        temperature=turn.temperature,
        on_token=on_token,
    )


async def route_pipeline(
    turn: AgentTurn, specs: list[AgentSpec], state: LoopState, on_token: TokenSink | None = None
) -> tuple[str, list[AgentAnswer]]:
    """The agents in order, each seeing the results before it; then one call that writes the
    answer from all of them."""
    answers: list[AgentAnswer] = []
    for spec in specs:
        answers.append(
            await agent_answer(
                spec=spec,
                call=turn.call,
                messages=_messages(turn, spec, answers),
                context=_tool_context(turn, answers),
                state=state,
                max_iterations=turn.max_iterations,
                temperature=turn.temperature,
            )
        )
    results = "\n\n".join(f"[{a.agent}]\n{a.response}" for a in answers)
    messages = [
        {"role": "system", "content": prompts.template("synthesis").text},
        {"role": "user", "content": f"Request: {turn.message}\n\nResults:\n{results}"},
    ]
    started = time.perf_counter()
    try:
        if on_token is None:
            completion = await turn.call.complete(messages=messages, temperature=turn.temperature)
            state.add_usage(completion.usage)
            text = completion.text
        else:
            parts = []
            async with turn.call.stream(messages=messages, temperature=turn.temperature) as chunks:
                async for chunk in chunks:
                    if chunk.final:
                        state.add_usage(chunk.usage)
                    elif chunk.delta:
                        parts.append(chunk.delta)
                        await on_token(chunk.delta)
            text = "".join(parts)
    finally:
        state.llm_ms += (time.perf_counter() - started) * 1000
    state.iterations += 1
    return text, answers


async def orchestrate(
    turn: AgentTurn, state: LoopState, on_token: TokenSink | None = None
) -> TurnResult:
    """Answer the turn: a response and actions (``direct``) or a plan (``plan``), cleaned by the
    sanitizer. Raises AgentFailed or a ProviderError when the agents cannot answer; ``state``
    keeps the usage and tools called either way."""
    started = time.perf_counter()
    if turn.requested:
        route = Route(agent=turn.requested[0].name, confidence=1.0, method="explicit")
        specs = turn.requested
    else:
        route = await route_message(turn, state)
        specs = [next(spec for spec in turn.agents if spec.name == route.agent)]
    result = TurnResult(route=route, agents=[s.name for s in specs], state=state)
    result.routing_ms = (time.perf_counter() - started) * 1000
    if turn.mode == "plan":
        keys = tuple(sorted(k for k, v in turn.context.items() if v))
        plan, cuts = clean_value(agent_plan(specs[0], keys), where="a plan")
        result.plan, result.sanitized_cuts = plan, cuts
        return result

    stream = StreamSanitizer() if on_token is not None else None

    async def relay(delta: str) -> None:
        assert stream is not None and on_token is not None
        if cleaned := stream.feed(delta):
            await on_token(cleaned)

    sink = relay if on_token is not None else None
    if len(specs) == 1:
        answer = await route_single(turn, specs[0], state, sink)
        text, answers = answer.response, [answer]
    else:
        text, answers = await route_pipeline(turn, specs, state, sink)
    if stream is not None and on_token is not None and (rest := stream.finish()):
        await on_token(rest)
    cleaned = clean_text(text)
    result.response = cleaned.text
    actions = [action for answer in answers for action in answer.actions]
    result.actions, action_cuts = clean_value(actions, where="actions")
    proposals = [proposal for answer in answers for proposal in answer.proposals]
    result.proposals, proposal_cuts = clean_value(proposals, where="proposed actions")
    result.applied = [change for answer in answers for change in answer.applied]
    result.sanitized_cuts = cleaned.cuts + action_cuts + proposal_cuts
    return result
