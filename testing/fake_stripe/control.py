"""Control routes (``/_fake/``, not Stripe's): what a customer or time does on Stripe's side,
and the pages that stand in for Checkout, the Billing Portal and hosted invoices."""

import html
import json

from testing.fake_stripe import billing
from testing.fake_stripe.api import checkout_complete
from testing.fake_stripe.routes import Page, route
from testing.fake_stripe.wire import as_bool

# --- control routes (not Stripe's) --------------------------------------------------------------


@route("POST", r"/_fake/reset")
def control_reset(store, params, match):
    store.reset()
    return {"ok": True}


@route("POST", r"/_fake/webhook_endpoints")
def control_endpoint(store, params, match):
    """Deliver every event, signed with ``secret``, to ``url`` (none: keep it for a test to
    take from ``/_fake/deliveries``)."""
    store.endpoints.append({"url": params.get("url") or None, "secret": params["secret"]})
    return {"ok": True}


@route("POST", r"/_fake/deliveries/take")
def control_take(store, params, match):
    return {"deliveries": store.take_collected()}


@route("POST", r"/_fake/requests")
def control_requests(store, params, match):
    """Every API request received since the last reset (method, path, parameters)."""
    return {"requests": [entry for entry in store.requests if entry["path"].startswith("/v1/")]}


@route("POST", r"/_fake/checkout/(?P<id>\w+)/complete")
def control_complete(store, params, match):
    return checkout_complete(store, store.get(match["id"], "checkout.session"))


@route("POST", r"/_fake/customers/(?P<id>\w+)/card")
def control_card(store, params, match):
    """``{"fails": true}``: every charge to this customer is declined until set back."""
    store.get(match["id"], "customer")
    if as_bool(params.get("fails")):
        store.failing_customers.add(match["id"])
    else:
        store.failing_customers.discard(match["id"])
    return {"ok": True}


@route("POST", r"/_fake/clock/advance")
def control_advance(store, params, match):
    billing.clock_advance(
        store, int(params.get("seconds", 0)) + int(params.get("days", 0)) * billing.DAY
    )
    return {"now": store.now()}


@route("GET", r"/_fake/checkout/(?P<id>\w+)")
def checkout_page(store, params, match):
    session = store.get(match["id"], "checkout.session")
    prices = ", ".join(
        f"{line.get('quantity', 1)} x {store.get(line['price'])['lookup_key']}"
        for line in session["line_items_requested"]
    )
    return Page(
        f"<h1>Local Stripe Checkout</h1><p>{html.escape(prices)}</p>"
        f"<form method=post action='/_fake/checkout/{session['id']}/pay'>"
        "<button>Pay (test card)</button></form>"
    )


@route("POST", r"/_fake/checkout/(?P<id>\w+)/pay")
def checkout_page_pay(store, params, match):
    session = checkout_complete(store, store.get(match["id"], "checkout.session"))
    return Page("", redirect=session["success_url"])


@route("GET", r"/_fake/(?P<kind>portal|invoices)/(?P<id>\w+)(?P<pdf>/pdf)?")
def static_page(store, params, match):
    obj = store.get(match["id"])
    return Page(
        f"<h1>Local Stripe {match['kind']}</h1><pre>{html.escape(json.dumps(obj, indent=2))}</pre>"
    )
