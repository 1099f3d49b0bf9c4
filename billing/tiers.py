"""The subscription tiers and everything each one allows: the one place a tier is spelled out.

Merged from the reference designs: request rates from the rate-limit design (per minute free 20,
pro 60, power 120, team 200 per seat; per day free 1,000, pro 10,000, power 50,000, team
unlimited) and the feature matrix of the cloud design (agents, active batches, the batch
builder, cloud storage, backups, providers, marketplace, SSO; prices free / pro €15 / power €29 /
team €49 per seat). Memory counts and memory storage are Engram's own choices, sized so a free
user can capture months of daily prompts. ``None`` means unlimited.

``self_hosted`` is not sold: it is what an operator's own server gives new accounts while
billing is off (``BILLING_DEFAULT_TIER``): every feature, no daily cap, and a per-minute rate
that stops a runaway script without getting in a person's way.

A team's limits are per seat, per person, never pooled: every member of an organisation whose
owner pays for the team tier has the team tier's limits and features for themself
(``BILLING_TIER_GRANTS``: teams.selectors.granted_tier), and the seats are how many people may
be members. The owner's own limits are one seat's, whatever the seat count. Callers never
compare tier names: they ask ``allowance(user, feature, used=...)``.
"""

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Literal, Protocol

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string

from core.errors import QuotaExceeded

GB = 1024**3
MB = 1024**2


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    POWER = "power", "Power"
    TEAM = "team", "Team"
    SELF_HOSTED = "self_hosted", "Self-hosted"


# The tiers a customer can buy through Stripe, in the order a pricing page shows them.
PAID_TIERS = (Tier.PRO, Tier.POWER, Tier.TEAM)


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int
    requests_per_day: int | None
    memories: int | None
    memory_storage_bytes: int | None
    backup_bytes: int | None
    cloud_storage_bytes: int | None
    provider_keys: int | None
    # Organisations a person owns (teams): without the team plan an organisation has one seat,
    # and its space takes its owner's limits, so more would only multiply them.
    organisations: int | None
    agents: int | None
    active_batches: int | None
    batch_builder: bool
    plugin_marketplace: bool
    sso: bool
    monthly_price_eur: int
    per_seat: bool = False


# The counted limits a team multiplies by its seats (a price is per seat already).
_SEAT_SCALED = (
    "requests_per_minute",
    "requests_per_day",
    "memories",
    "memory_storage_bytes",
    "backup_bytes",
    "cloud_storage_bytes",
    "provider_keys",
    "agents",
    "active_batches",
)

TIERS: dict[str, TierLimits] = {
    Tier.FREE: TierLimits(
        requests_per_minute=20,
        requests_per_day=1_000,
        memories=5_000,
        memory_storage_bytes=100 * MB,
        backup_bytes=0,
        cloud_storage_bytes=0,
        provider_keys=1,
        organisations=1,
        agents=3,
        active_batches=2,
        batch_builder=False,
        plugin_marketplace=False,
        sso=False,
        monthly_price_eur=0,
    ),
    Tier.PRO: TierLimits(
        requests_per_minute=60,
        requests_per_day=10_000,
        memories=100_000,
        memory_storage_bytes=5 * GB,
        backup_bytes=5 * GB,
        cloud_storage_bytes=5 * GB,
        provider_keys=None,
        organisations=1,
        agents=None,
        active_batches=10,
        batch_builder=False,
        plugin_marketplace=False,
        sso=False,
        monthly_price_eur=15,
    ),
    Tier.POWER: TierLimits(
        requests_per_minute=120,
        requests_per_day=50_000,
        memories=1_000_000,
        memory_storage_bytes=25 * GB,
        backup_bytes=25 * GB,
        cloud_storage_bytes=25 * GB,
        provider_keys=None,
        organisations=1,
        agents=None,
        active_batches=None,
        batch_builder=True,
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
        cloud_storage_bytes=None,
        provider_keys=None,
        organisations=None,
        agents=None,
        active_batches=None,
        batch_builder=True,
        plugin_marketplace=True,
        sso=True,
        monthly_price_eur=49,
        per_seat=True,
    ),
    Tier.SELF_HOSTED: TierLimits(
        requests_per_minute=600,
        requests_per_day=None,
        memories=None,
        memory_storage_bytes=None,
        backup_bytes=None,
        cloud_storage_bytes=None,
        provider_keys=None,
        organisations=None,
        agents=None,
        active_batches=None,
        batch_builder=True,
        plugin_marketplace=True,
        sso=True,
        monthly_price_eur=0,
    ),
}

Feature = Literal[
    "requests_per_minute",
    "requests_per_day",
    "memories",
    "memory_storage_bytes",
    "backup_bytes",
    "cloud_storage_bytes",
    "provider_keys",
    "organisations",
    "agents",
    "active_batches",
    "batch_builder",
    "plugin_marketplace",
    "sso",
]


class HasTier(Protocol):
    tier: str


@dataclass(frozen=True)
class Allowance:
    """The answer to "may this user do X, and how much is left"."""

    allowed: bool
    limit: int | None  # None: unlimited (or a yes/no feature)
    remaining: int | None  # None: unlimited (or a yes/no feature)


def default_tier() -> str:
    """The tier of an account without a paid subscription: new accounts, and accounts whose
    subscription ended (``BILLING_DEFAULT_TIER``)."""
    return settings.BILLING_DEFAULT_TIER


def tier_limits(tier: str, seats: int = 1) -> TierLimits:
    """The limits of ``tier`` for ``seats`` seats pooled in one account (only a per-seat tier
    looks at seats). People's limits are never pooled (``limits_for``); this answers what a
    whole team may use together, for reports."""
    limits = TIERS.get(tier, TIERS[Tier.FREE])
    if not limits.per_seat or seats <= 1:
        return limits
    scaled = {
        name: value * seats for name in _SEAT_SCALED if (value := getattr(limits, name)) is not None
    }
    return dataclasses.replace(limits, **scaled)


# Which of two tiers gives more, for a user who has one of their own and one through a team.
_RANK = {Tier.FREE: 0, Tier.PRO: 1, Tier.POWER: 2, Tier.TEAM: 3, Tier.SELF_HOSTED: 4}


def effective_tier(user: HasTier) -> str:
    """The best of ``user``'s own tier and the tiers granted to them (BILLING_TIER_GRANTS:
    membership of a paying team). Read once per user object."""
    cached = getattr(user, "_effective_tier", None)
    if cached is not None and cached[0] == user.tier:
        return cached[1]
    best = user.tier
    for grant in getattr(settings, "BILLING_TIER_GRANTS", ()):
        granted = import_string(grant)(user)
        if granted and _RANK.get(granted, 0) > _RANK.get(best, 0):
            best = granted
    with contextlib.suppress(AttributeError):  # a frozen stand-in: asked again next time
        user._effective_tier = (user.tier, best)  # type: ignore[attr-defined]
    return best


def limits_for(user: HasTier) -> TierLimits:
    """``user``'s limits: one person's, from their best tier (per seat, never pooled)."""
    return TIERS.get(effective_tier(user), TIERS[Tier.FREE])


def allowance(user: HasTier, feature: Feature, *, used: int = 0, adding: int = 1) -> Allowance:
    """May ``user`` add ``adding`` more of ``feature`` when ``used`` are already taken?

    For yes/no features (``batch_builder``, ``plugin_marketplace``, ``sso``) ``used`` and
    ``adding`` are ignored. Going down a tier never deletes anything: a user over a limit keeps
    what they have and can read, export and delete it; only adding more is refused.
    """
    value = getattr(limits_for(user), feature)
    if isinstance(value, bool):
        return Allowance(allowed=value, limit=None, remaining=None)
    if value is None:
        return Allowance(allowed=True, limit=None, remaining=None)
    remaining = max(value - used, 0)
    return Allowance(allowed=adding <= remaining, limit=value, remaining=remaining)


def allowance_required(user: HasTier, feature: Feature, *, used: int, what: str) -> None:
    """Refuse (403 QUOTA_EXCEEDED, naming the limit) one more of ``feature`` past ``user``'s
    plan, ``used`` being taken; ``what`` names them in the message ("provider key(s)")."""
    quota = allowance(user, feature, used=used)
    if not quota.allowed:
        raise QuotaExceeded(
            f"Your plan allows {quota.limit} {what}.",
            details={"feature": feature, "limit": quota.limit, "used": used},
        )
