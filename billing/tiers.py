"""The subscription tiers and everything each one allows: the one place a tier is spelled out.

Merged from the reference designs: request rates from the rate-limit design (per minute free 20,
pro 60, power 120, team 200 per seat; per day free 1,000, pro 10,000, power 50,000, team
unlimited) and the feature matrix of the cloud design (storage, backups, providers, marketplace).
Memory counts and memory storage are Engram's own choices, sized so a free user can capture
months of daily prompts. ``None`` means unlimited. A team account counts as one seat until
billing adds seats.

Callers never compare tier names: they ask ``allowance(user, feature, used=...)``.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

from django.db import models

GB = 1024**3
MB = 1024**2


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    POWER = "power", "Power"
    TEAM = "team", "Team"


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int
    requests_per_day: int | None
    memories: int | None
    memory_storage_bytes: int | None
    backup_bytes: int | None
    provider_keys: int | None
    plugin_marketplace: bool
    sso: bool
    monthly_price_eur: int
    # Agents (seed 004's matrix): how many of the registered agents may be used, how many may
    # run as one pipeline (a batch), and whether multi-agent playbooks (the batch builder) are on.
    agents: int | None = None
    batch_active: int | None = None
    batch_builder: bool = True


TIERS: dict[str, TierLimits] = {
    Tier.FREE: TierLimits(
        requests_per_minute=20,
        requests_per_day=1_000,
        memories=5_000,
        memory_storage_bytes=100 * MB,
        backup_bytes=0,
        provider_keys=1,
        plugin_marketplace=False,
        sso=False,
        monthly_price_eur=0,
        agents=3,
        batch_active=2,
        batch_builder=False,
    ),
    Tier.PRO: TierLimits(
        requests_per_minute=60,
        requests_per_day=10_000,
        memories=100_000,
        memory_storage_bytes=5 * GB,
        backup_bytes=5 * GB,
        provider_keys=None,
        plugin_marketplace=False,
        sso=False,
        monthly_price_eur=15,
        batch_active=10,
        batch_builder=False,
    ),
    Tier.POWER: TierLimits(
        requests_per_minute=120,
        requests_per_day=50_000,
        memories=1_000_000,
        memory_storage_bytes=25 * GB,
        backup_bytes=25 * GB,
        provider_keys=None,
        plugin_marketplace=True,
        sso=False,
        monthly_price_eur=29,
    ),
    Tier.TEAM: TierLimits(
        requests_per_minute=200,
        requests_per_day=None,
        memories=None,
        memory_storage_bytes=None,
        backup_bytes=None,
        provider_keys=None,
        plugin_marketplace=True,
        sso=True,
        monthly_price_eur=49,
    ),
}

Feature = Literal[
    "requests_per_minute",
    "requests_per_day",
    "memories",
    "memory_storage_bytes",
    "backup_bytes",
    "provider_keys",
    "plugin_marketplace",
    "sso",
    "agents",
    "batch_active",
    "batch_builder",
]


class HasTier(Protocol):
    tier: str


@dataclass(frozen=True)
class Allowance:
    """The answer to "may this user do X, and how much is left"."""

    allowed: bool
    limit: int | None  # None: unlimited (or a yes/no feature)
    remaining: int | None  # None: unlimited (or a yes/no feature)


def limits_for(user: HasTier) -> TierLimits:
    return TIERS.get(user.tier, TIERS[Tier.FREE])


def allowance(user: HasTier, feature: Feature, *, used: int = 0, adding: int = 1) -> Allowance:
    """May ``user`` add ``adding`` more of ``feature`` when ``used`` are already taken?

    For yes/no features (``plugin_marketplace``, ``sso``, ``batch_builder``) ``used`` and
    ``adding`` are ignored.
    """
    value = getattr(limits_for(user), feature)
    if isinstance(value, bool):
        return Allowance(allowed=value, limit=None, remaining=None)
    if value is None:
        return Allowance(allowed=True, limit=None, remaining=None)
    remaining = max(value - used, 0)
    return Allowance(allowed=adding <= remaining, limit=value, remaining=remaining)
