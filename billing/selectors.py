"""Billing reads: the user's Stripe customer, subscription and invoices from dj-stripe's
mirror, this period's usage against the tier's limits, and the plans for a pricing page."""

import datetime as dt
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.module_loading import import_string
from djstripe.models import Customer, Invoice, Subscription

from accounts.models import User
from accounts.ratelimit import user_requests_today
from billing.entitlements import (
    grace_ends_at,
    subscription_item,
    subscription_period_end,
    subscription_tier,
)
from billing.models import DailyUsage
from billing.tiers import PAID_TIERS, TIERS, Tier, effective_tier, limits_for

# Statuses after which a subscription can never pay again.
ENDED = ("canceled", "incomplete_expired")


def customer_of(*, user: User) -> Customer | None:
    return Customer.objects.filter(subscriber=user).order_by("-created").first()


def current_subscription(*, user: User) -> Subscription | None:
    """The user's newest subscription that has not ended (it may be past_due or cancelling)."""
    return (
        Subscription.objects.filter(customer__subscriber=user)
        .exclude(stripe_data__status__in=ENDED)
        .order_by("-created")
        .first()
    )


def _timestamp(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if isinstance(value, int) else None


def subscription_summary(*, user: User) -> dict[str, Any]:
    """What ``GET /billing/subscription`` answers: the user's tier and, when they have one,
    their subscription's state."""
    subscription = current_subscription(user=user)
    summary: dict[str, Any] = {
        "tier": user.tier,
        "seats": user.seats,
        "subscription_id": None,
        "status": None,
        "subscribed_tier": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "trial_end": None,
        "grace_ends_at": None,
    }
    if subscription is None:
        return summary
    data = subscription.stripe_data
    item = subscription_item(data) or {}
    summary.update(
        subscription_id=subscription.id,
        status=data.get("status"),
        subscribed_tier=subscription_tier(data),
        seats=int(item.get("quantity") or 1),
        current_period_end=subscription_period_end(data),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        trial_end=_timestamp(data.get("trial_end")),
        grace_ends_at=grace_ends_at(data, settings.BILLING_GRACE_DAYS),
    )
    if summary["subscribed_tier"] is None:
        summary["subscribed_tier"] = user.tier
    return summary


def invoices_of(*, user: User) -> list[dict[str, Any]]:
    """The user's invoices, newest first, as ``GET /billing/invoices`` lists them."""
    invoices = Invoice.objects.filter(customer__subscriber=user).order_by(
        "-created", "-djstripe_id"
    )
    return [
        {
            "id": invoice.id,
            "number": data.get("number"),
            "amount_due": data.get("amount_due"),
            "amount_paid": data.get("amount_paid"),
            "total": data.get("total"),
            "currency": data.get("currency"),
            "status": data.get("status"),
            "billing_reason": data.get("billing_reason"),
            "created": invoice.created,
            "hosted_invoice_url": data.get("hosted_invoice_url"),
            "invoice_pdf": data.get("invoice_pdf"),
        }
        for invoice in invoices
        for data in [invoice.stripe_data]
    ]


def customers_with_users() -> list[tuple[str, Any]]:
    """Every mirrored Stripe customer that belongs to a user: (customer id, user id)."""
    return list(
        Customer.objects.filter(subscriber__isnull=False)
        .order_by("djstripe_id")
        .values_list("id", "subscriber_id")
    )


def past_due_subscriptions_by_user() -> dict[Any, list[dict[str, Any]]]:
    """For each user with a past_due subscription, all their subscriptions (Stripe's data)."""
    users = Subscription.objects.filter(
        stripe_data__status="past_due", customer__subscriber__isnull=False
    ).values_list("customer__subscriber_id", flat=True)
    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    rows = Subscription.objects.filter(customer__subscriber_id__in=users).values_list(
        "customer__subscriber_id", "stripe_data"
    )
    for user_id, data in rows:
        grouped[user_id].append(data)
    return dict(grouped)


def _period_start(user: User) -> dt.date:
    """The first day of the subscription's current period, else of the calendar month."""
    subscription = current_subscription(user=user)
    item = subscription_item(subscription.stripe_data) if subscription else None
    started = _timestamp((item or {}).get("current_period_start"))
    return started.date() if started else timezone.now().date().replace(day=1)


# The counted features whose use the apps that store them report (BILLING_USAGE_METERS).
STORED_FEATURES = ("memories", "memory_storage_bytes", "backup_bytes", "cloud_storage_bytes")


def _meter(used: int | None, limit: int | None) -> dict[str, int | None]:
    return {"used": used, "limit": limit}


def usage_of(*, user: User) -> dict[str, Any]:
    """This period's usage, each against the tier's limit (None: unlimited): one answer a client
    can draw usage bars from."""
    since = _period_start(user)
    llm = DailyUsage.objects.filter(user=user, day__gte=since).aggregate(
        requests=Sum("requests"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
    )
    used: dict[str, int] = {}
    for meter in settings.BILLING_USAGE_METERS:
        used.update(import_string(meter)(user=user))
    limits = limits_for(user)
    return {
        # The tier whose limits these are: the user's own, or a paying team's granted to them.
        "tier": effective_tier(user),
        "period_start": since,
        "requests": _meter(llm["requests"] or 0, None),
        # What the daily limit counts (API requests), not the LLM calls summed in DailyUsage.
        "requests_today": _meter(user_requests_today(user), limits.requests_per_day),
        "requests_per_minute": _meter(None, limits.requests_per_minute),
        "tokens": _meter((llm["prompt_tokens"] or 0) + (llm["completion_tokens"] or 0), None),
        "cost_usd": str(llm["cost_usd"] or 0),
        **{
            feature: _meter(used.get(feature, 0), getattr(limits, feature))
            for feature in STORED_FEATURES
        },
    }


def plans() -> list[dict[str, Any]]:
    """The tiers a pricing page shows (free and the paid ones), with prices and limits."""
    return [
        {
            "tier": str(tier),
            "name": tier.label,
            "monthly_price_eur": TIERS[tier].monthly_price_eur,
            "per_seat": TIERS[tier].per_seat,
            "purchasable": tier in PAID_TIERS,
            "limits": {
                name: value
                for name, value in vars(TIERS[tier]).items()
                if name not in ("monthly_price_eur", "per_seat")
            },
        }
        for tier in (Tier.FREE, *PAID_TIERS)
    ]


def mrr_by_tier() -> list[dict[str, Any]]:
    """Monthly recurring revenue per tier from the mirror: active and past_due subscriptions,
    price times seats (trials pay nothing yet)."""
    totals: dict[str, dict[str, Any]] = {
        str(tier): {"tier": str(tier), "subscriptions": 0, "seats": 0, "cents": 0}
        for tier in PAID_TIERS
    }
    rows = Subscription.objects.filter(stripe_data__status__in=["active", "past_due"])
    for data in rows.values_list("stripe_data", flat=True):
        tier = subscription_tier(data)
        item = subscription_item(data) or {}
        if tier is None:
            continue
        seats = int(item.get("quantity") or 1)
        totals[tier]["subscriptions"] += 1
        totals[tier]["seats"] += seats
        totals[tier]["cents"] += (item.get("price") or {}).get("unit_amount", 0) * seats
    for row in totals.values():
        row.update(mrr=f"{row.pop('cents') / 100:.2f}", currency="EUR")
    return list(totals.values())
