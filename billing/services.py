"""Billing writes: usage, checkout and portal sessions, subscription changes, and the one
service that makes a user's tier follow what they pay for (``user_tier_apply``).

Stripe is the source of truth; dj-stripe's tables mirror it and are only written from what
Stripe answered (``providers.payments.mirror``). Each change re-reads the subscription from
Stripe rather than trusting a webhook's payload, so events that arrive twice or out of order
settle on the same state.
"""

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from djstripe.models import Customer

from accounts.models import User
from billing import selectors
from billing.entitlements import (
    Entitlement,
    entitlement,
    lookup_key_for,
    subscription_item,
    subscription_tier,
)
from billing.models import DailyUsage
from billing.signals import stripe_event_received
from billing.tiers import PAID_TIERS, TIERS, Tier
from core.db import transaction_lock
from core.errors import Conflict, ErrorCode, NotFound, ServiceUnavailable, ValidationFailed
from core.parsers import JSONInputError, json_loads
from providers.payments import PaymentsError, PaymentsObjectMissing, PaymentsRefused
from providers.payments import stripe_api as stripe
from providers.payments.mirror import event_record, mirror_sync

logger = logging.getLogger(__name__)
MAX_SEATS = 500


STRIPE_UNAVAILABLE = "Stripe could not be reached; try again shortly."


def billing_required() -> None:
    """Refuse (404 ``BILLING_DISABLED``) before anything contacts Stripe when billing is off."""
    if not settings.BILLING_ENABLED:
        raise NotFound("Billing is not enabled on this server.", code=ErrorCode.BILLING_DISABLED)


def stripe_call(call: Callable[..., Any], **params: Any) -> Any:
    """``call(**params)`` on Stripe (providers.payments): a refusal is a 400, Stripe failing is a
    503. Every app that pays through Stripe calls it through here."""
    try:
        return call(**params)
    except PaymentsRefused as exc:
        raise ValidationFailed(str(exc), details={"stripe": [str(exc)]}) from None
    except PaymentsError as exc:
        raise ServiceUnavailable(STRIPE_UNAVAILABLE, details={"reason": str(exc)}) from None


# --- usage ---------------------------------------------------------------------------------------


def usage_record(*, user_id, prompt_tokens: int, completion_tokens: int, cost_usd: Decimal) -> None:
    """Add one LLM call to the user's usage for today (UTC); safe under concurrency."""
    day = timezone.now().date()
    DailyUsage.objects.bulk_create([DailyUsage(user_id=user_id, day=day)], ignore_conflicts=True)
    DailyUsage.objects.filter(user_id=user_id, day=day).update(
        requests=F("requests") + 1,
        prompt_tokens=F("prompt_tokens") + prompt_tokens,
        completion_tokens=F("completion_tokens") + completion_tokens,
        cost_usd=F("cost_usd") + cost_usd,
    )


# --- the tier follows payment --------------------------------------------------------------------


def user_tier_apply(*, user_id: Any, subscriptions: list[dict[str, Any]]) -> Entitlement:
    """Set the user's tier and seats from their subscriptions (Stripe's objects), now.

    The one place a payment becomes a tier. Never deletes data: a lower tier only stops new
    things being created (``allowance``).
    """
    result = entitlement(
        subscriptions,
        now=timezone.now(),
        grace_days=settings.BILLING_GRACE_DAYS,
        default_tier=settings.BILLING_DEFAULT_TIER,
    )
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            return result
        if (user.tier, user.seats) != (result.tier, result.seats):
            logger.info(
                "User %s: tier %s x%s -> %s x%s (subscription %s, %s)",
                user.pk, user.tier, user.seats, result.tier, result.seats,
                result.subscription_id, result.status,
            )  # fmt: skip
            user.tier, user.seats = result.tier, result.seats
            user.save(update_fields=["tier", "seats"])
    return result


def customer_refresh(*, customer_id: str) -> Entitlement | None:
    """Re-read the customer's subscriptions and invoices from Stripe into the mirror, then
    apply the tier they pay for. Safe to run any number of times, in any order."""
    customer = mirror_sync(stripe.customer_retrieve(customer_id=customer_id))
    subscriptions = stripe.subscriptions_of(customer_id=customer_id)
    for subscription in subscriptions:
        mirror_sync(subscription)
    for invoice in stripe.invoices_of(customer_id=customer_id):
        mirror_sync(invoice)
    if customer.subscriber_id is None:
        logger.warning("Stripe customer %s belongs to no Engram user", customer_id)
        return None
    return user_tier_apply(user_id=customer.subscriber_id, subscriptions=subscriptions)


def _customer_for(user: User) -> Customer:
    customer = selectors.customer_of(user=user)
    if customer is not None:
        return customer
    data = stripe_call(
        stripe.customer_create,
        email=user.email,
        metadata={"djstripe_subscriber": str(user.pk)},
    )
    return mirror_sync(data)


# --- checkout, portal, changes -------------------------------------------------------------------


def _paid_tier(tier: str, seats: int | None) -> tuple[str, int]:
    if tier not in PAID_TIERS:
        raise ValidationFailed(details={"tier": [f"Choose one of: {', '.join(PAID_TIERS)}."]})
    if seats is not None and tier != Tier.TEAM and seats != 1:
        raise ValidationFailed(details={"seats": ["Only the team tier has seats."]})
    seats = seats or 1
    if not 1 <= seats <= MAX_SEATS:
        raise ValidationFailed(details={"seats": [f"From 1 to {MAX_SEATS}."]})
    return tier, seats


def _price_id(tier: str) -> str:
    price = stripe_call(stripe.price_by_lookup_key, lookup_key=lookup_key_for(tier))
    if price is None:
        raise ServiceUnavailable(
            f"No Stripe price for the {tier} tier: run `manage.py billing_sync`.",
            details={"lookup_key": lookup_key_for(tier)},
        )
    return price["id"]


def return_url(configured: str, *, site_url: str, path: str) -> str:
    """Where Stripe sends a person back to: ``configured`` (the operator's setting) when set,
    else ``path`` on ``site_url``, the address their request reached this server at (what
    they can reach, whatever port or host the server runs on)."""
    return configured or urljoin(site_url, path)


def checkout_start(*, user: User, tier: str, site_url: str, seats: int | None = None) -> str:
    """A Stripe Checkout URL where ``user`` buys ``tier`` (``seats`` for team); Stripe sends
    them back to ``site_url`` unless BILLING_SUCCESS_URL/BILLING_CANCEL_URL say otherwise. The
    tier changes when Stripe reports the payment (webhook), not here."""
    billing_required()
    tier, seats = _paid_tier(tier, seats)
    if selectors.current_subscription(user=user) is not None:
        raise Conflict(
            "You already have a subscription: change it with PATCH /billing/subscription.",
        )
    customer = _customer_for(user)
    with transaction.atomic():
        # Only the newest Checkout can be paid: one opened before (another tab, another tier)
        # would start a second subscription beside the first when paid. Two at once wait here,
        # so the second sees, and expires, the first.
        transaction_lock("billing.checkout", str(user.pk))
        for earlier in stripe_call(stripe.checkout_sessions_open, customer_id=customer.id):
            stripe_call(stripe.checkout_session_expire, session_id=earlier["id"])
        session = stripe_call(
            stripe.checkout_session_create,
            customer_id=customer.id,
            price_id=_price_id(tier),
            quantity=seats,
            success_url=return_url(
                settings.BILLING_SUCCESS_URL, site_url=site_url, path="/?billing=success"
            ),
            cancel_url=return_url(
                settings.BILLING_CANCEL_URL, site_url=site_url, path="/?billing=cancel"
            ),
            trial_days=settings.BILLING_TRIAL_DAYS,
            reference=str(user.pk),
            metadata={"engram_user": str(user.pk), "tier": tier},
        )
    return session["url"]


def portal_start(*, user: User, site_url: str) -> str:
    """A Stripe Billing Portal URL for ``user``, which sends them back to ``site_url`` unless
    BILLING_PORTAL_RETURN_URL says otherwise."""
    billing_required()
    customer = selectors.customer_of(user=user)
    if customer is None:
        raise NotFound("You have no billing account yet: subscribe first.")
    session = stripe_call(
        stripe.portal_session_create,
        customer_id=customer.id,
        return_url=return_url(settings.BILLING_PORTAL_RETURN_URL, site_url=site_url, path="/"),
    )
    return session["url"]


def _current_or_404(user: User):
    billing_required()
    subscription = selectors.current_subscription(user=user)
    if subscription is None:
        raise NotFound("You have no subscription.")
    return subscription


def subscription_change(*, user: User, tier: str | None = None, seats: int | None = None):
    """Move the subscription to another tier or seat count; Stripe prorates and invoices the
    difference at once. Answers the subscription as Stripe now has it."""
    subscription = _current_or_404(user)
    data = subscription.stripe_data
    tier, seats = _paid_tier(tier or subscription_tier(data) or "", seats)
    item = subscription_item(data) or {}
    stripe_call(
        stripe.subscription_change,
        subscription_id=subscription.id,
        item_id=item.get("id", ""),
        price_id=_price_id(tier),
        quantity=seats,
    )
    stripe_call(customer_refresh, customer_id=subscription.customer_id)


def subscription_cancel(*, user: User, now: bool = False) -> None:
    """Cancel at the end of the paid period (the tier stays until then), or ``now`` with the
    unused time credited."""
    subscription = _current_or_404(user)
    if now:
        stripe_call(stripe.subscription_cancel_now, subscription_id=subscription.id)
    else:
        stripe_call(
            stripe.subscription_cancel_at_period_end,
            subscription_id=subscription.id,
            cancel=True,
        )
    stripe_call(customer_refresh, customer_id=subscription.customer_id)


def subscription_end_now(*, user: User) -> None:
    """End ``user``'s subscription at once, for their account's deletion (the unused time
    credited to the customer, as a cancellation ``now`` is). Nothing to do without billing or a
    subscription; Stripe failing is a 503 and nothing else happens."""
    if not settings.BILLING_ENABLED:
        return
    subscription = selectors.current_subscription(user=user)
    if subscription is not None:
        stripe_call(stripe.subscription_cancel_now, subscription_id=subscription.id)


# --- webhooks ------------------------------------------------------------------------------------


def _customer_of_event(event: dict[str, Any]) -> str | None:
    obj = event.get("data", {}).get("object") or {}
    if obj.get("object") == "customer":
        return obj.get("id")
    customer = obj.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _signed_event(payload: bytes) -> dict[str, Any]:
    """The Stripe event in a verified body; a body that is not one is invalid input (a signed
    body is trusted to come from Stripe, not to be shaped like an event)."""
    try:
        event = json_loads(payload)
    except JSONInputError as exc:
        raise ValidationFailed(
            "The signed body is not JSON.", details={"body": [str(exc)]}
        ) from None
    if not isinstance(event, dict) or event.get("object") != "event" or "id" not in event:
        raise ValidationFailed(
            "The signed body is not a Stripe event.",
            details={"body": ["Expected a Stripe event object."]},
        )
    return event


def stripe_event_receive(*, payload: bytes, signature: str) -> bool:
    """Verify a webhook delivery on its raw bytes, record the event once, and bring the
    customer's mirror and tier up to date from Stripe. Answers False for an event already
    processed (nothing changes)."""
    billing_required()
    try:
        stripe.webhook_verify(
            payload=payload,
            signature=signature,
            secret=settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except PaymentsError as exc:
        raise ValidationFailed(str(exc), details={"stripe_signature": [str(exc)]}) from None
    event = _signed_event(payload)
    with transaction.atomic():
        try:
            if not event_record(event):
                return False
        except PaymentsObjectMissing:
            # The object is gone at Stripe; the customer's refresh below settles the tier.
            logger.info("Stripe event %s names an object Stripe no longer has", event["id"])
        except PaymentsError as exc:
            raise ServiceUnavailable(STRIPE_UNAVAILABLE, details={"reason": str(exc)}) from None
        stripe_event_received.send(sender=stripe_event_receive, event=event)
    customer_id = _customer_of_event(event)
    if customer_id:
        stripe_call(customer_refresh, customer_id=customer_id)
    return True


# --- operators -----------------------------------------------------------------------------------


def prices_sync() -> list[dict[str, Any]]:
    """Create or update a product and a monthly EUR price per paid tier, found by lookup key.
    Idempotent: a price whose amount is right is kept; a changed amount gets a new price that
    takes the lookup key over (Stripe prices are immutable) and the old one is deactivated."""
    billing_required()
    report = []
    for tier in PAID_TIERS:
        limits = TIERS[tier]
        name = f"Engram {tier.label}" + (" (per seat)" if limits.per_seat else "")
        product = stripe_call(
            stripe.product_upsert,
            product_id=f"engram_{tier}",
            name=name,
            metadata={"engram_tier": str(tier)},
        )
        mirror_sync(product)
        amount = limits.monthly_price_eur * 100
        price = stripe_call(stripe.price_by_lookup_key, lookup_key=lookup_key_for(tier))
        action = "kept"
        if price is None or price["unit_amount"] != amount or price["product"] != product["id"]:
            old = price
            price = stripe_call(
                stripe.price_create,
                product_id=product["id"],
                unit_amount=amount,
                currency="eur",
                lookup_key=lookup_key_for(tier),
                metadata={"engram_tier": str(tier)},
            )
            if old is not None:
                mirror_sync(stripe_call(stripe.price_deactivate, price_id=old["id"]))
            action = "created"
        mirror_sync(price)
        report.append({"tier": str(tier), "price": price["id"], "amount": amount, "action": action})
    return report


def subscriptions_reconcile(*, progress: Callable[[int], None] | None = None) -> int:
    """Re-read every customer from Stripe and fix tiers that drifted; answer how many users
    changed. Safe to re-run and to interrupt."""
    billing_required()
    changed = 0
    for customer_id, user_id in selectors.customers_with_users():
        before = User.objects.filter(pk=user_id).values_list("tier", "seats").first()
        result = stripe_call(customer_refresh, customer_id=customer_id)
        if result is not None and before != (result.tier, result.seats):
            changed += 1
        if progress:
            progress(1)
    return changed


def grace_expire() -> int:
    """Apply the tier again for every past_due subscription in the mirror, so one whose grace
    period ended falls back without waiting for a webhook. Answers how many users changed."""
    changed = 0
    for user_id, subscriptions in selectors.past_due_subscriptions_by_user().items():
        before = User.objects.filter(pk=user_id).values_list("tier", "seats").first()
        result = user_tier_apply(user_id=user_id, subscriptions=subscriptions)
        changed += before != (result.tier, result.seats)
    return changed
