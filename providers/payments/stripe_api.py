"""The Stripe calls Engram makes, on the official ``stripe`` client.

Every call sends the key from ``STRIPE_SECRET_KEY`` to ``STRIPE_API_BASE`` (Stripe, or the local
Stripe in development and tests). ``configure()`` also points the module-level client there,
which is what dj-stripe's own retrieves use.
"""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import stripe
from django.conf import settings

from providers.payments.errors import (
    PaymentsObjectMissing,
    PaymentsRefused,
    PaymentsSignatureInvalid,
    PaymentsUnavailable,
)

T = TypeVar("T")
StripeData = dict[str, Any]
# Sent with every call: the subscription's latest invoice tells when a failed payment began.
SUBSCRIPTION_EXPAND = ["latest_invoice"]


def configure() -> str:
    """Point the module-level client at ``STRIPE_API_BASE``; answer the key to call with."""
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.api_key = settings.STRIPE_SECRET_KEY
    stripe.max_network_retries = 2
    return settings.STRIPE_SECRET_KEY


def _plain(obj: Any) -> Any:
    return json.loads(str(obj)) if obj is not None else None


@contextmanager
def translated_errors() -> Iterator[None]:
    """Stripe's exceptions, inside the block, become PaymentsError subclasses."""
    try:
        yield
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            raise PaymentsObjectMissing(exc.user_message or str(exc)) from None
        raise PaymentsRefused(exc.user_message or str(exc)) from None
    except stripe.CardError as exc:
        raise PaymentsRefused(exc.user_message or "The card was declined.") from None
    except stripe.AuthenticationError:
        raise PaymentsUnavailable("Stripe refused the server's API key.") from None
    except stripe.StripeError as exc:
        raise PaymentsUnavailable(f"Stripe could not be reached ({type(exc).__name__}).") from None


def _call(method: Callable[..., T], *args: Any, **params: Any) -> StripeData:
    key = configure()
    with translated_errors():
        return _plain(method(*args, api_key=key, **params))


def _list(method: Callable[..., Any], **params: Any) -> list[StripeData]:
    key = configure()
    with translated_errors():
        return [_plain(obj) for obj in method(api_key=key, limit=100, **params).auto_paging_iter()]


# --- webhooks ------------------------------------------------------------------------------------


def webhook_verify(*, payload: bytes, signature: str, secret: str, tolerance: int) -> None:
    """Check a webhook delivery's signature over its raw body, and that its timestamp is within
    ``tolerance`` seconds of now, before or after: a signature dated ahead would stay valid
    for as long as its date is ahead. Raises PaymentsSignatureInvalid; the body is the
    caller's to parse."""
    try:
        stripe.WebhookSignature.verify_header(payload.decode(), signature, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise PaymentsSignatureInvalid("The Stripe-Signature header does not verify.") from None
    # Stripe's check above refuses only a timestamp too far in the past. It has read the
    # header's first ``t`` as an integer by now; read it the same way.
    fields = [part.split("=", 2) for part in signature.split(",")]
    timestamp = int(next(field[1] for field in fields if field[0] == "t"))
    if timestamp > time.time() + tolerance:
        raise PaymentsSignatureInvalid("The Stripe-Signature timestamp is in the future.")


# --- customers, products, prices -----------------------------------------------------------------


def customer_create(*, email: str, metadata: dict[str, str]) -> StripeData:
    return _call(stripe.Customer.create, email=email, metadata=metadata)


def customer_retrieve(*, customer_id: str) -> StripeData:
    return _call(stripe.Customer.retrieve, customer_id)


def product_upsert(*, product_id: str, name: str, metadata: dict[str, str]) -> StripeData:
    """Create the product with this id, or bring its name and metadata up to date."""
    try:
        return _call(stripe.Product.modify, product_id, name=name, metadata=metadata, active=True)
    except PaymentsObjectMissing:
        return _call(stripe.Product.create, id=product_id, name=name, metadata=metadata)


def price_by_lookup_key(*, lookup_key: str) -> StripeData | None:
    prices = _list(stripe.Price.list, lookup_keys=[lookup_key], active=True)
    return prices[0] if prices else None


def price_create(
    *, product_id: str, unit_amount: int, currency: str, lookup_key: str, metadata: dict
) -> StripeData:
    """A monthly price that takes ``lookup_key`` over from any price holding it."""
    return _call(
        stripe.Price.create,
        product=product_id,
        unit_amount=unit_amount,
        currency=currency,
        recurring={"interval": "month"},
        lookup_key=lookup_key,
        transfer_lookup_key=True,
        metadata=metadata,
    )


def price_deactivate(*, price_id: str) -> StripeData:
    return _call(stripe.Price.modify, price_id, active=False)


# --- checkout and portal -------------------------------------------------------------------------


def checkout_session_create(
    *,
    customer_id: str,
    price_id: str,
    quantity: int,
    success_url: str,
    cancel_url: str,
    trial_days: int,
    reference: str,
    metadata: dict[str, str],
) -> StripeData:
    subscription_data: dict[str, Any] = {"metadata": metadata}
    if trial_days:
        subscription_data["trial_period_days"] = trial_days
    return _call(
        stripe.checkout.Session.create,
        mode="subscription",
        customer=customer_id,
        client_reference_id=reference,
        line_items=[{"price": price_id, "quantity": quantity}],
        success_url=success_url,
        cancel_url=cancel_url,
        subscription_data=subscription_data,
        metadata=metadata,
    )


def checkout_sessions_open(*, customer_id: str) -> list[StripeData]:
    return _list(stripe.checkout.Session.list, customer=customer_id, status="open")


def checkout_session_expire(*, session_id: str) -> StripeData:
    return _call(stripe.checkout.Session.expire, session_id)


def portal_session_create(*, customer_id: str, return_url: str) -> StripeData:
    return _call(stripe.billing_portal.Session.create, customer=customer_id, return_url=return_url)


# --- subscriptions and invoices ------------------------------------------------------------------


def subscriptions_of(*, customer_id: str) -> list[StripeData]:
    """Every subscription of the customer, ended ones included, newest first."""
    return _list(
        stripe.Subscription.list, customer=customer_id, status="all", expand=["data.latest_invoice"]
    )


def subscription_retrieve(*, subscription_id: str) -> StripeData:
    return _call(stripe.Subscription.retrieve, subscription_id, expand=SUBSCRIPTION_EXPAND)


def subscription_change(
    *, subscription_id: str, item_id: str, price_id: str, quantity: int
) -> StripeData:
    """Move the subscription's item to another price or quantity; the difference is invoiced
    at once, prorated to the second."""
    return _call(
        stripe.Subscription.modify,
        subscription_id,
        items=[{"id": item_id, "price": price_id, "quantity": quantity}],
        proration_behavior="always_invoice",
        expand=SUBSCRIPTION_EXPAND,
    )


def subscription_cancel_at_period_end(*, subscription_id: str, cancel: bool) -> StripeData:
    return _call(
        stripe.Subscription.modify,
        subscription_id,
        cancel_at_period_end=cancel,
        expand=SUBSCRIPTION_EXPAND,
    )


def subscription_cancel_now(*, subscription_id: str) -> StripeData:
    """End it now; the unused time is credited (a final invoice with a proration credit)."""
    return _call(
        stripe.Subscription.cancel,
        subscription_id,
        prorate=True,
        invoice_now=True,
        expand=SUBSCRIPTION_EXPAND,
    )


def invoices_of(*, customer_id: str) -> list[StripeData]:
    return _list(stripe.Invoice.list, customer=customer_id)


# --- Connect: publishers' accounts, plugin payments, refunds, payouts ----------------------------


def connect_account_create(*, email: str, metadata: dict[str, str]) -> StripeData:
    """An Express connected account that can take card payments and receive transfers."""
    return _call(
        stripe.Account.create,
        type="express",
        email=email,
        capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
        metadata=metadata,
    )


def account_retrieve(*, account_id: str) -> StripeData:
    return _call(stripe.Account.retrieve, account_id)


def account_link_create(*, account_id: str, refresh_url: str, return_url: str) -> StripeData:
    """A one-time onboarding URL for the connected account."""
    return _call(
        stripe.AccountLink.create,
        account=account_id,
        refresh_url=refresh_url,
        return_url=return_url,
        type="account_onboarding",
    )


def payment_intent_create(
    *,
    amount: int,
    currency: str,
    destination: str | None,
    application_fee_amount: int | None,
    description: str,
    metadata: dict[str, str],
) -> StripeData:
    """A card payment; with ``destination`` a destination charge: the connected account gets
    ``amount - application_fee_amount`` with the charge."""
    params: dict[str, Any] = {}
    if destination:
        params["transfer_data"] = {"destination": destination}
        params["application_fee_amount"] = application_fee_amount or 0
    return _call(
        stripe.PaymentIntent.create,
        amount=amount,
        currency=currency,
        description=description,
        metadata=metadata,
        automatic_payment_methods={"enabled": True},
        **params,
    )


def payment_intent_retrieve(*, payment_intent_id: str) -> StripeData:
    return _call(stripe.PaymentIntent.retrieve, payment_intent_id)


def refund_create(*, payment_intent_id: str, amount: int | None = None) -> StripeData:
    """Refund a payment (``amount`` cents of it, or all); a destination charge's transfer and
    application fee are reversed in proportion."""
    intent = payment_intent_retrieve(payment_intent_id=payment_intent_id)
    params: dict[str, Any] = {} if amount is None else {"amount": amount}
    if intent.get("transfer_data"):
        params.update(reverse_transfer=True, refund_application_fee=True)
    return _call(stripe.Refund.create, payment_intent=payment_intent_id, **params)


def transfer_create(
    *, amount: int, currency: str, destination: str, metadata: dict[str, str], idempotency_key: str
) -> StripeData:
    """Move ``amount`` to a connected account; the same ``idempotency_key`` moves it once."""
    return _call(
        stripe.Transfer.create,
        amount=amount,
        currency=currency,
        destination=destination,
        metadata=metadata,
        idempotency_key=idempotency_key,
    )
