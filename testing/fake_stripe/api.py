"""Stripe's REST routes for the subset Engram uses."""

from typing import Any

from testing.fake_stripe import billing
from testing.fake_stripe.routes import route
from testing.fake_stripe.store import Store
from testing.fake_stripe.wire import StripeError, as_bool


def _only(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: params[name] for name in names if name in params}


# --- account ------------------------------------------------------------------------------------


@route("GET", r"/v1/account")
def account(store, params, match):
    return store.account


@route("GET", r"/v1/accounts/(?P<id>[\w]+)")
def account_by_id(store, params, match):
    return store.get(match["id"], "account")


# --- customers, products, prices ----------------------------------------------------------------


@route("POST", r"/v1/customers")
def customer_create(store, params, match):
    fields = _only(params, "email", "name", "description")
    return store.create(
        "cus",
        {
            "email": None,
            "name": None,
            "description": None,
            **fields,
            "metadata": dict(params.get("metadata") or {}),
            "balance": 0,
            "currency": "eur",
            "delinquent": False,
            "default_source": None,
            "invoice_prefix": "ENG",
            "invoice_settings": {"default_payment_method": None},
            "tax_exempt": "none",
        },
    )


@route("GET", r"/v1/(?P<kind>customers|products|prices|subscriptions|invoices|events)/(?P<id>\w+)")
def retrieve(store, params, match):
    return store.get(match["id"], match["kind"][:-1])


@route("GET", r"/v1/checkout/sessions")
def session_list(store, params, match):
    found = store.find("checkout.session", customer=params.get("customer"))
    if status := params.get("status"):
        found = [session for session in found if session["status"] == status]
    return found


@route("GET", r"/v1/checkout/sessions/(?P<id>\w+)")
def session_retrieve(store, params, match):
    return store.get(match["id"], "checkout.session")


@route("GET", r"/v1/subscription_items/(?P<id>\w+)")
def subscription_item_retrieve(store, params, match):
    return store.get(match["id"], "subscription_item")


@route("GET", r"/v1/products/(?P<id>\w+)/features")
def product_features(store, params, match):
    store.get(match["id"], "product")
    return []


@route("POST", r"/v1/(?P<kind>customers|products|prices)/(?P<id>\w+)")
def update(store, params, match):
    obj = store.get(match["id"], match["kind"][:-1])
    if as_bool(params.pop("transfer_lookup_key", False)) and params.get("lookup_key"):
        for other in store.find("price", lookup_key=params["lookup_key"]):
            other["lookup_key"] = None
    for key, value in params.items():
        if key == "metadata":
            obj["metadata"].update(value or {})
        elif key == "active":
            obj["active"] = as_bool(value)
        elif key not in ("expand", "id", "object"):
            obj[key] = value
    store.emit(f"{obj['object']}.updated", obj)
    return obj


@route("GET", r"/v1/customers")
def customer_list(store, params, match):
    return store.find("customer", email=params.get("email"))


@route("POST", r"/v1/products")
def product_create(store, params, match):
    product = store.create(
        "prod",
        {
            **_only(params, "id", "name", "description"),
            "active": as_bool(params.get("active", "true")),
            "metadata": dict(params.get("metadata") or {}),
            "type": "service",
            "default_price": None,
            "images": [],
            "marketing_features": [],
            "url": None,
        },
    )
    store.emit("product.created", product)
    return product


@route("GET", r"/v1/products")
def product_list(store, params, match):
    found = store.find("product")
    if params.get("ids"):
        found = [product for product in found if product["id"] in params["ids"]]
    if "active" in params:
        found = [product for product in found if product["active"] == as_bool(params["active"])]
    return found


@route("POST", r"/v1/prices")
def price_create(store, params, match):
    product = store.get(params.get("product", ""), "product")
    lookup_key = params.get("lookup_key")
    taken = store.find("price", lookup_key=lookup_key) if lookup_key else []
    if taken and not as_bool(params.get("transfer_lookup_key")):
        raise StripeError(
            400,
            f"A price (`{taken[0]['id']}`) already uses that lookup key.",
            param="lookup_key",
        )
    for other in taken:
        other["lookup_key"] = None
    recurring = params.get("recurring")
    price = store.create(
        "price",
        {
            "product": product["id"],
            "active": True,
            "currency": params.get("currency", "eur").lower(),
            "unit_amount": int(params.get("unit_amount", 0)),
            "unit_amount_decimal": str(params.get("unit_amount", 0)),
            "lookup_key": lookup_key,
            "nickname": params.get("nickname"),
            "billing_scheme": "per_unit",
            "tax_behavior": params.get("tax_behavior", "unspecified"),
            "type": "recurring" if recurring else "one_time",
            "recurring": {
                "interval": recurring.get("interval", "month"),
                "interval_count": int(recurring.get("interval_count", 1)),
                "usage_type": recurring.get("usage_type", "licensed"),
                "meter": None,
            }
            if recurring
            else None,
            "metadata": dict(params.get("metadata") or {}),
        },
    )
    store.emit("price.created", price)
    return price


@route("GET", r"/v1/prices")
def price_list(store, params, match):
    found = store.find("price", product=params.get("product"))
    if params.get("lookup_keys"):
        found = [price for price in found if price["lookup_key"] in params["lookup_keys"]]
    if "active" in params:
        found = [price for price in found if price["active"] == as_bool(params["active"])]
    return found


# --- checkout and the billing portal ------------------------------------------------------------


@route("POST", r"/v1/checkout/sessions")
def checkout_create(store, params, match):
    if params.get("mode") != "subscription":
        raise StripeError(400, "Only mode=subscription is supported here.", param="mode")
    lines = params.get("line_items") or []
    if not lines:
        raise StripeError(400, "line_items is required.", param="line_items")
    for line in lines:
        store.get(line.get("price", ""), "price")
    customer = params.get("customer")
    if customer:
        store.get(customer, "customer")
    session = store.create(
        "cs",
        {
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "subscription": None,
            "invoice": None,
            "payment_intent": None,
            "currency": "eur",
            "metadata": dict(params.get("metadata") or {}),
            "expires_at": store.now() + billing.DAY,
            "line_items_requested": lines,
            "subscription_data": params.get("subscription_data") or {},
        },
    )
    session["url"] = f"{store.public_url}/_fake/checkout/{session['id']}"
    return session


def checkout_complete(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """What paying on the Checkout page does: a customer if none, the subscription, its first
    invoice, and ``checkout.session.completed``."""
    if session["status"] != "open":
        raise StripeError(400, f"This Checkout Session is {session['status']}.")
    if session["customer"] is None:
        session["customer"] = customer_create(
            store, {"email": session["customer_email"] or "buyer@example.invalid"}, None
        )["id"]
    sub = billing.subscription_start(
        store, session["customer"], session["line_items_requested"], session["subscription_data"]
    )
    session.update(
        status="complete",
        payment_status="paid" if sub["status"] in ("active", "trialing") else "unpaid",
        subscription=sub["id"],
        invoice=sub["latest_invoice"],
    )
    store.emit("checkout.session.completed", session)
    return session


@route("POST", r"/v1/checkout/sessions/(?P<id>\w+)/expire")
def checkout_expire(store, params, match):
    session = store.get(match["id"], "checkout.session")
    if session["status"] == "open":
        session["status"] = "expired"
        store.emit("checkout.session.expired", session)
    return session


@route("POST", r"/v1/billing_portal/sessions")
def portal_create(store, params, match):
    store.get(params.get("customer", ""), "customer")
    session = store.create(
        "bps",
        {
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "configuration": "bpc_engramlocal",
        },
    )
    session["url"] = f"{store.public_url}/_fake/portal/{session['id']}"
    return session


# --- subscriptions and invoices -----------------------------------------------------------------


@route("GET", r"/v1/subscriptions")
def subscription_list(store, params, match):
    found = store.find("subscription", customer=params.get("customer"))
    status = params.get("status")
    if status and status != "all":
        return [sub for sub in found if sub["status"] == status]
    if status != "all":  # Stripe leaves ended subscriptions out unless asked
        found = [sub for sub in found if sub["status"] not in billing.ENDED]
    return found


@route("POST", r"/v1/subscriptions/(?P<id>\w+)")
def subscription_update(store, params, match):
    sub = store.get(match["id"], "subscription")
    billing.subscription_update(store, sub, params)
    return sub


@route("DELETE", r"/v1/subscriptions/(?P<id>\w+)")
def subscription_cancel(store, params, match):
    sub = store.get(match["id"], "subscription")
    billing.subscription_cancel(store, sub, params)
    return sub


@route("GET", r"/v1/invoices")
def invoice_list(store, params, match):
    return store.find(
        "invoice", customer=params.get("customer"), subscription=params.get("subscription")
    )


@route("POST", r"/v1/invoices/(?P<id>\w+)/pay")
def invoice_pay(store, params, match):
    invoice = store.get(match["id"], "invoice")
    if not billing.invoice_pay(store, invoice):
        raise StripeError(402, "Your card was declined.", type="card_error", code="card_declined")
    sub = store.objects.get(invoice.get("subscription") or "")
    if sub is not None and sub["status"] in ("past_due", "incomplete", "unpaid"):
        previous = {"status": sub["status"]}
        sub["status"] = "active"
        store.emit("customer.subscription.updated", sub, previous)
    return invoice


@route("GET", r"/v1/events")
def event_list(store, params, match):
    found = [store.objects[event_id] for event_id in reversed(store.events)]
    if params.get("type"):
        found = [event for event in found if event["type"] == params["type"]]
    return found
