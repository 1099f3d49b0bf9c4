"""Stripe Connect as the marketplace uses it: Express accounts and their onboarding links,
PaymentIntents (destination charges with ``application_fee_amount`` and
``transfer_data[destination]``), refunds that reverse the transfer and the fee, and transfers.

What a person does on Stripe's side is a control route: ``POST /_fake/accounts/{id}/onboard``
(the publisher finishes onboarding: charges and payouts enabled) and
``POST /_fake/payment_intents/{id}/succeed`` (the buyer pays; ``{"fails": true}`` declines).
Paying makes the charge, the platform's application fee and the transfer to the destination,
and emits ``payment_intent.succeeded``; a refund emits ``refund.created``. Only those two events
are emitted (Stripe also sends ``charge.*``, ``account.updated`` and ``transfer.*``, which
Engram does not read). A POST with an ``Idempotency-Key`` it saw before answers as it did then.
"""

import secrets
from typing import Any

from testing.fake_stripe.routes import Page, route
from testing.fake_stripe.store import Store
from testing.fake_stripe.wire import StripeError, as_bool, as_int

# --- accounts -----------------------------------------------------------------------------------


@route("POST", r"/v1/accounts")
def account_create(store, params, match):
    if params.get("type") not in ("express", "standard", "custom"):
        raise StripeError(400, "type must be express, standard or custom.", param="type")
    return store.create(
        "acct",
        {
            "type": params["type"],
            "country": params.get("country", "DE"),
            "default_currency": "eur",
            "email": params.get("email"),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "capabilities": {name: "inactive" for name in (params.get("capabilities") or {})},
            "business_profile": {"name": None},
            "settings": {"dashboard": {"display_name": None}},
            "metadata": dict(params.get("metadata") or {}),
        },
    )


@route("POST", r"/v1/account_links")
def account_link_create(store, params, match):
    account = store.get(params.get("account", ""), "account")
    for name in ("refresh_url", "return_url"):
        if not params.get(name):
            raise StripeError(400, f"{name} is required.", param=name)
    return {
        "object": "account_link",
        "created": store.now(),
        "expires_at": store.now() + 300,
        "url": f"{store.public_url}/_fake/connect/{account['id']}?return={params['return_url']}",
    }


def account_onboard(store: Store, account: dict[str, Any]) -> dict[str, Any]:
    account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
    account["capabilities"] = {name: "active" for name in account["capabilities"]}
    return account


@route("POST", r"/_fake/accounts/(?P<id>\w+)/onboard")
def control_onboard(store, params, match):
    return account_onboard(store, store.get(match["id"], "account"))


@route("GET", r"/_fake/connect/(?P<id>\w+)")
def onboarding_page(store, params, match):
    account = store.get(match["id"], "account")
    return Page(
        f"<h1>Local Stripe Connect onboarding</h1><p>{account['id']}</p>"
        f"<form method=post action='/_fake/accounts/{account['id']}/onboard'>"
        "<button>Finish onboarding</button></form>"
    )


# --- payment intents ----------------------------------------------------------------------------


@route("POST", r"/v1/payment_intents")
def payment_intent_create(store, params, match):
    amount = as_int(params.get("amount"), "amount")
    if amount < 1:
        raise StripeError(400, "amount must be at least 1.", param="amount")
    transfer_data = params.get("transfer_data") or None
    fee = params.get("application_fee_amount")
    if transfer_data:
        store.get(transfer_data.get("destination", ""), "account")
        fee = as_int(fee or 0, "application_fee_amount")
        if not 0 <= fee <= amount:
            raise StripeError(400, "application_fee_amount exceeds amount.", param="fee")
    elif fee is not None:
        raise StripeError(400, "application_fee_amount needs a destination.", param="fee")
    intent = store.create(
        "pi",
        {
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application_fee_amount": fee,
            "automatic_payment_methods": params.get("automatic_payment_methods"),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "currency": params.get("currency", "eur").lower(),
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": dict(params.get("metadata") or {}),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "receipt_email": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_payment_method",
            "transfer_data": {"destination": transfer_data["destination"]}
            if transfer_data
            else None,
            "transfer_group": None,
        },
    )
    intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
    return intent


@route("GET", r"/v1/payment_intents/(?P<id>\w+)")
def payment_intent_retrieve(store, params, match):
    return store.get(match["id"], "payment_intent")


def payment_intent_pay(store: Store, intent: dict[str, Any], fails: bool) -> dict[str, Any]:
    """The buyer confirms: a charge, the platform's fee and the destination's transfer."""
    if intent["status"] != "requires_payment_method":
        raise StripeError(400, f"This PaymentIntent is {intent['status']}.")
    if fails:
        intent["last_payment_error"] = {"code": "card_declined", "message": "Declined."}
        store.emit("payment_intent.payment_failed", intent)
        return intent
    destination = (intent["transfer_data"] or {}).get("destination")
    charge = store.create(
        "ch",
        {
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "paid": True,
            "application_fee_amount": intent["application_fee_amount"],
            "transfer_data": intent["transfer_data"],
            "transfer": None,
            "application_fee": None,
            "metadata": dict(intent["metadata"]),
        },
    )
    if destination:
        fee = intent["application_fee_amount"]
        charge["application_fee"] = store.create(
            "fee",
            {"amount": fee, "amount_refunded": 0, "charge": charge["id"], "account": destination},
        )["id"]
        charge["transfer"] = _transfer(store, intent["amount"] - fee, destination, charge["id"])[
            "id"
        ]
    intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])
    store.emit("payment_intent.succeeded", intent)
    return intent


@route("POST", r"/_fake/payment_intents/(?P<id>\w+)/succeed")
def control_pay(store, params, match):
    intent = store.get(match["id"], "payment_intent")
    return payment_intent_pay(store, intent, as_bool(params.get("fails")))


# --- refunds and transfers ----------------------------------------------------------------------


@route("POST", r"/v1/refunds")
def refund_create(store, params, match):
    intent = store.get(params.get("payment_intent", ""), "payment_intent")
    if intent["status"] != "succeeded":
        raise StripeError(400, "This PaymentIntent has no successful charge.")
    charge = store.get(intent["latest_charge"], "charge")
    left = charge["amount"] - charge["amount_refunded"]
    amount = as_int(params.get("amount", left), "amount")
    if not 0 < amount <= left:
        raise StripeError(400, f"Refund at most {left}.", param="amount", code="amount_too_large")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    if as_bool(params.get("reverse_transfer")) and charge["transfer"]:
        transfer = store.get(charge["transfer"], "transfer")
        share = amount * transfer["amount"] // charge["amount"]
        transfer["amount_reversed"] += share
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    if as_bool(params.get("refund_application_fee")) and charge["application_fee"]:
        fee = store.get(charge["application_fee"], "application_fee")
        fee["amount_refunded"] += amount * fee["amount"] // charge["amount"]
    refund = store.create(
        "re",
        {
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": dict(params.get("metadata") or {}),
        },
    )
    store.emit("refund.created", refund)
    return refund


def _transfer(store: Store, amount: int, destination: str, source: str | None) -> dict[str, Any]:
    store.get(destination, "account")
    return store.create(
        "tr",
        {
            "amount": amount,
            "amount_reversed": 0,
            "reversed": False,
            "currency": "eur",
            "destination": destination,
            "source_transaction": source,
            "metadata": {},
        },
    )


@route("POST", r"/v1/transfers")
def transfer_create(store, params, match):
    amount = as_int(params.get("amount"), "amount")
    if amount < 1:
        raise StripeError(400, "amount must be at least 1.", param="amount")
    transfer = _transfer(store, amount, params.get("destination", ""), None)
    transfer["metadata"] = dict(params.get("metadata") or {})
    return transfer


@route("GET", r"/v1/transfers")
def transfer_list(store, params, match):
    return store.find("transfer", destination=params.get("destination"))


@route("GET", r"/v1/(?P<kind>transfers|refunds|charges|application_fees)/(?P<id>\w+)")
def connect_retrieve(store, params, match):
    return store.get(match["id"], match["kind"][:-1])
