"""What a user's subscriptions entitle them to: the one rule that turns Stripe's state into a
tier. Pure functions over Stripe's subscription objects (as dj-stripe mirrors them)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.tiers import PAID_TIERS, Tier

# Stripe statuses that pay for a tier; past_due keeps it through the grace period.
PAYING = ("active", "trialing")
GRACE = ("past_due",)


def lookup_key_for(tier: str) -> str:
    """The Stripe price ``lookup_key`` of a paid tier's monthly price."""
    return f"engram_{tier}_monthly"


TIER_BY_LOOKUP_KEY = {lookup_key_for(tier): tier for tier in PAID_TIERS}


@dataclass(frozen=True)
class Entitlement:
    tier: str
    seats: int
    subscription_id: str | None
    status: str | None
    grace_ends_at: datetime | None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


def subscription_item(subscription: dict[str, Any]) -> dict[str, Any] | None:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else None


def subscription_tier(subscription: dict[str, Any]) -> str | None:
    """The paid tier a subscription's price sells, or None for a price that is not ours."""
    item = subscription_item(subscription)
    price = (item or {}).get("price") or {}
    return (
        TIER_BY_LOOKUP_KEY.get(price.get("lookup_key") or "") if isinstance(price, dict) else None
    )


def subscription_period_end(subscription: dict[str, Any]) -> datetime | None:
    item = subscription_item(subscription) or {}
    return _timestamp(item.get("current_period_end") or subscription.get("current_period_end"))


def grace_ends_at(subscription: dict[str, Any], grace_days: int) -> datetime | None:
    """When a past_due subscription loses its tier: ``grace_days`` after the invoice that failed
    was created (read from Stripe's own record, so no second copy of its state is kept)."""
    if subscription.get("status") not in GRACE:
        return None
    invoice = subscription.get("latest_invoice")
    started = _timestamp(invoice.get("created")) if isinstance(invoice, dict) else None
    if started is None:  # no invoice to read: count from when the current period began
        item = subscription_item(subscription) or {}
        started = _timestamp(item.get("current_period_start")) or datetime.now(UTC)
    return started + timedelta(days=grace_days)


def entitlement(
    subscriptions: list[dict[str, Any]], *, now: datetime, grace_days: int, default_tier: str
) -> Entitlement:
    """The best tier any of ``subscriptions`` pays for now; ``default_tier`` when none does.

    ``active``/``trialing`` give their price's tier; ``past_due`` keeps it until the grace
    period ends; every other status (canceled, unpaid, incomplete, incomplete_expired, paused)
    gives nothing. Team seats are the item's quantity.
    """
    best: Entitlement | None = None
    rank = {tier: index for index, tier in enumerate(PAID_TIERS)}
    for subscription in subscriptions:
        tier = subscription_tier(subscription)
        status = subscription.get("status")
        if tier is None:
            continue
        grace_end = grace_ends_at(subscription, grace_days)
        if status not in PAYING and not (grace_end is not None and now < grace_end):
            continue
        item = subscription_item(subscription) or {}
        seats = int(item.get("quantity") or 1) if tier == Tier.TEAM else 1
        candidate = Entitlement(tier, seats, subscription["id"], status, grace_end)
        if best is None or (rank[tier], seats) > (rank[best.tier], best.seats):
            best = candidate
    return best or Entitlement(default_tier, 1, None, None, None)
