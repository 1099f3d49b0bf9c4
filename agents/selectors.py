"""Agent reads: which agents and playbooks a user may use, their personas and runs."""

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import User
from agents.models import AgentRun, Persona
from agents.registry import AgentSpec, registry
from billing.tiers import allowance
from core.errors import QuotaExceeded
from core.ownership import get_owned_object


@dataclass(frozen=True)
class AgentListing:
    spec: AgentSpec
    available: bool


def agent_listings(user: User) -> list[AgentListing]:
    """Every registered agent, and whether the user's tier lets them use it: agents are counted
    in registry order against the tier's ``agents`` allowance."""
    return [
        AgentListing(spec, allowance(user, spec.feature, used=index).allowed)
        for index, spec in enumerate(registry.all())
    ]


def agents_allowed(user: User) -> list[AgentSpec]:
    return [listing.spec for listing in agent_listings(user) if listing.available]


def agent_refusal(user: User, spec: AgentSpec) -> QuotaExceeded:
    answer = allowance(user, spec.feature, used=registry.names.index(spec.name))
    return QuotaExceeded(
        f"The {user.tier} plan includes {answer.limit} agents; '{spec.name}' is not among them.",
        details={
            "feature": spec.feature,
            "tier": user.tier,
            "limit": answer.limit,
            "agent": spec.name,
        },
    )


def personas_of(user: User) -> QuerySet[Persona]:
    return Persona.objects.filter(user=user)


def persona_get(user: User, persona_id) -> Persona:
    return get_owned_object(Persona.objects.all(), owner=user, pk=persona_id)


def persona_by_name_or_id(user: User, reference: str) -> Persona:
    """A persona named by id or by name (the ``X-Engram-Persona`` header takes either)."""
    found = Persona.objects.filter(user=user, name=reference).first()
    return found or persona_get(user, reference)


def runs_of(user: User) -> QuerySet[AgentRun]:
    return AgentRun.objects.filter(user=user)


def run_get(user: User, run_id) -> AgentRun:
    return get_owned_object(AgentRun.objects.all(), owner=user, pk=run_id)
