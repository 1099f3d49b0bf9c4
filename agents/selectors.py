"""Agent reads: which agents and playbooks a user may use, their personas and runs."""

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import User
from agents.models import AgentRun
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


def runs_of(user: User) -> QuerySet[AgentRun]:
    return AgentRun.objects.filter(user=user)


def run_get(user: User, run_id) -> AgentRun:
    return get_owned_object(AgentRun.objects.all(), owner=user, pk=run_id)
