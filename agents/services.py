"""Agent writes: personas, and the preparation and record of an agent turn.

A turn is prepared here (sync: the persona, the tier's agents, the model and its key, the
user's memories, a run row), answered by ``agents.orchestrator`` (async, no database), and
recorded here (the run's outcome and the usage, like a chat answer).
"""

import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiScope, Persona, User
from accounts.permissions import scope_required
from accounts.selectors import persona_by_name_or_id
from agents import selectors
from agents.builtin.on_server import proposal_apply
from agents.llm_access import (
    ModelCall,
    ModelUnavailable,
    UnknownModel,
    default_model_check,
    model_for_user,
    usage_add,
)
from agents.loop import LoopState
from agents.models import AgentRun, ProposedAction
from agents.orchestrator import AgentTurn, TurnResult
from agents.registry import registry
from billing.tiers import allowance
from core.errors import Conflict, NotFound, QuotaExceeded
from memories.spaces import memories_search_scoped

logger = logging.getLogger(__name__)
PERSONA_FIELDS = ("name", "system_prompt", "default_model", "temperature")


# --- personas ------------------------------------------------------------------------------


def persona_create(*, user: User, data: dict[str, Any]) -> Persona:
    """A new persona; Conflict when the user already has one of that name, ValidationFailed for
    a default model the catalog does not have."""
    default_model_check(changes=data)
    try:
        with transaction.atomic():
            return Persona.objects.create(
                user=user, **{k: data[k] for k in data if k in PERSONA_FIELDS}
            )
    except IntegrityError:
        raise Conflict(
            "You already have a persona with this name.", details={"name": ["Already in use."]}
        ) from None


def persona_update(*, persona: Persona, data: dict[str, Any]) -> Persona:
    default_model_check(changes=data)
    for name in PERSONA_FIELDS:
        if name in data:
            setattr(persona, name, data[name])
    try:
        with transaction.atomic():
            persona.save()
    except IntegrityError:
        raise Conflict(
            "You already have a persona with this name.", details={"name": ["Already in use."]}
        ) from None
    return persona


def persona_delete(*, persona: Persona) -> None:
    persona.delete()


# --- a turn --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnRequest:
    message: str
    context: dict[str, Any]
    execution_mode: str = "direct"
    persona: str | None = None
    agents: tuple[str, ...] = ()
    records: str = "client"  # "server": the tasks and projects agents use the server's records
    include_team: str | None = None  # the team memories recalled, as search's include_team


def _requested(user: User, names: tuple[str, ...]) -> list:
    """The agents the request names, each one the user's tier includes; a pipeline no longer
    than the tier's batch size."""
    allowed = {spec.name for spec in selectors.agents_allowed(user)}
    specs = []
    for name in dict.fromkeys(names):
        spec = registry.get(name)
        if spec.name not in allowed:
            raise selectors.agent_refusal(user, spec)
        specs.append(spec)
    if (
        len(specs) > 1
        and not (batch := allowance(user, "active_batches", adding=len(specs))).allowed
    ):
        raise QuotaExceeded(
            f"The {user.tier} plan runs at most {batch.limit} agents in one pipeline.",
            details={"feature": "active_batches", "tier": user.tier, "limit": batch.limit},
        )
    return specs


def _router_for(user: User) -> ModelCall | None:
    if not settings.AGENTS_ROUTER_MODEL:
        return None
    try:
        return model_for_user(user=user, model_id=settings.AGENTS_ROUTER_MODEL)
    except (UnknownModel, ModelUnavailable) as exc:
        logger.info("No routing model for this user (%s); routing locally", exc.code)
        return None


def _recall(user: User, query: str, top_k: int, include_team: str | None) -> list[dict[str, Any]]:
    # With the teams the user leaves in their searches unless the turn chose, as chat's recall
    # (memories.spaces).
    outcome = memories_search_scoped(
        user=user, query=query, include_team=include_team, mode="hybrid", top_k=top_k
    )
    return [
        {
            "id": str(hit.memory.pk),
            "text": hit.memory.content,
            "score": round(hit.score, 4),
            "created": hit.memory.created_at.date().isoformat(),
        }
        for hit in (scoped.hit for scoped in outcome.hits)
    ]


def agent_turn_prepare(
    *,
    user: User,
    request: TurnRequest,
    transport: str = "http",
    scopes: Collection[str] | None = None,
) -> AgentTurn:
    """Check and resolve everything a turn needs, and open its run. ``scopes``: the API key's
    the request came with (None: a signed-in session).

    Raises NotFound (an unknown agent or persona, or another user's), QuotaExceeded (an agent or
    pipeline the tier does not include, naming the tier), UnknownModel / ModelUnavailable,
    PermissionDenied (the server's records asked for by a key without ``tasks:write``: the
    agents read and change the user's tasks and projects there).
    """
    if request.records == "server":
        scope_required(scopes, ApiScope.TASKS_WRITE)
    persona = persona_by_name_or_id(user, request.persona) if request.persona else None
    requested = _requested(user, request.agents)
    agents = selectors.agents_allowed(user)
    model_id = (persona and persona.default_model) or user.default_model or settings.AGENTS_MODEL
    temperature = persona.temperature if persona else None
    call = model_for_user(user=user, model_id=model_id, temperature=temperature)
    memories: list[dict[str, Any]] = []
    search = None
    if user.memory_enabled:
        teams = request.include_team
        memories = _recall(user, request.message, settings.AGENTS_MEMORY_TOP_K, teams)

        async def search(query: str, top_k: int) -> list[dict[str, Any]]:
            return await sync_to_async(_recall)(user, query, top_k, teams)

    run = AgentRun.objects.create(
        user=user,
        mode=request.execution_mode,
        transport=transport,
        model_id=call.model_id,
        persona_id=persona.pk if persona else None,
        message_chars=len(request.message),
        expires_at=timezone.now() + timedelta(days=settings.AGENTS_RUN_RETENTION_DAYS),
    )
    return AgentTurn(
        user_id=user.pk,
        run_id=run.pk,
        message=request.message,
        context=request.context,
        mode=request.execution_mode,
        call=call,
        router=None if requested else _router_for(user),
        agents=agents,
        requested=requested,
        persona_prompt=persona.system_prompt if persona else "",
        temperature=temperature,
        memories=memories,
        search_memories=search,
        max_iterations=settings.AGENTS_MAX_ITERATIONS,
        owner=user if request.records == "server" else None,
    )


def agent_turn_finish(
    *,
    turn: AgentTurn,
    started: float,
    state: LoopState,
    result: TurnResult | None = None,
    error: BaseException | None = None,
    cancelled: bool = False,
) -> AgentRun:
    """Record how the turn ended and count its tokens in the user's usage. Safe twice: only a
    run still ``running`` is written."""
    if cancelled:
        outcome = AgentRun.Outcome.CANCELLED
    elif error is not None:
        outcome = AgentRun.Outcome.FAILED
    else:
        outcome = AgentRun.Outcome.SUCCEEDED
    fields: dict[str, Any] = {
        "outcome": outcome,
        "duration_ms": int((time.perf_counter() - started) * 1000),
        "error_code": str(getattr(error, "code", type(error).__name__)) if error else "",
    }
    if result is not None:
        fields |= {
            "agents": result.agents,
            "route_method": result.route.method,
            "route_confidence": result.route.confidence,
            "actions": len(result.actions),
            "sanitized_cuts": result.sanitized_cuts,
        }
    cost = turn.call.cost(state.usage)
    fields |= {
        "tools_called": state.tools_called,
        "iterations": state.iterations,
        "prompt_tokens": state.usage.prompt_tokens,
        "completion_tokens": state.usage.completion_tokens,
        "cost_usd": cost,
        "llm_ms": int(state.llm_ms),
    }
    with transaction.atomic():
        written = AgentRun.objects.filter(pk=turn.run_id, outcome=AgentRun.Outcome.RUNNING).update(
            **fields
        )
        if written and state.usage.total_tokens:
            usage_add(user_id=turn.user_id, usage=state.usage, cost_usd=cost)
        if written and result is not None and result.proposals:
            ProposedAction.objects.bulk_create(
                ProposedAction(
                    id=proposal["id"],
                    run_id=turn.run_id,
                    action={k: v for k, v in proposal.items() if k != "id"},
                )
                for proposal in result.proposals
            )
    return AgentRun.objects.get(pk=turn.run_id)


def agent_actions_confirm(
    *, user: User, ids: list[uuid.UUID], scopes: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The actions the user confirms, by the ids of the proposals their agents' answers carried,
    in the order asked: the client applies these. A proposal on the server's records
    (``on_server``) is applied here, and comes back with ``applied: true``: nothing for the
    client to do. Confirming again answers the same actions and changes nothing more.

    Raises NotFound naming the ids that are no proposal of this user's (another user's, or one
    whose run expired)."""
    wanted = list(dict.fromkeys(ids))
    found = {
        proposal.pk: proposal
        for proposal in ProposedAction.objects.filter(
            pk__in=wanted, run__user=user, run__expires_at__gt=timezone.now()
        )
    }
    if missing := [str(pk) for pk in wanted if pk not in found]:
        raise NotFound("No proposed action of yours has this id.", details={"ids": missing})
    if any(found[pk].action.get("on_server") for pk in wanted):
        scope_required(scopes, ApiScope.TASKS_WRITE)  # it changes the server's tasks
    actions = []
    with transaction.atomic():
        for pk in wanted:
            action = dict(found[pk].action)
            if action.pop("on_server", False):
                proposal_apply(user=user, action=action)
                action["applied"] = True
            actions.append(action)
        ProposedAction.objects.filter(pk__in=wanted, confirmed_at__isnull=True).update(
            confirmed_at=timezone.now()
        )
    return actions


def agent_runs_expire(*, now=None) -> int:
    """Delete the runs past their retention; return how many went."""
    deleted, _ = AgentRun.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
