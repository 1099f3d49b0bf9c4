"""Subscriptions as Stripe runs them: checkout creates one, changes prorate, invoices are paid
or fail, and moving the clock renews, ends trials and ends subscriptions cancelled at period
end. Every change emits the events Stripe would."""

import calendar
from datetime import UTC, datetime
from typing import Any

from testing.fake_stripe.store import Store
from testing.fake_stripe.wire import StripeError, as_bool, as_int, new_id

DAY = 86_400
TRIAL_WILL_END_BEFORE = 3 * DAY
ENDED = {"canceled", "incomplete_expired"}


def add_month(timestamp: int) -> int:
    moment = datetime.fromtimestamp(timestamp, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def _period(sub: dict[str, Any]) -> tuple[int, int]:
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def _set_period(sub: dict[str, Any], start: int, end: int) -> None:
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, end


def _amount(item: dict[str, Any]) -> int:
    return item["price"]["unit_amount"] * item["quantity"]


# --- invoices -----------------------------------------------------------------------------------


def _line(store: Store, amount: int, description: str, item: dict | None, period, proration):
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": "eur",
        "description": description,
        "period": {"start": period[0], "end": period[1]},
        "proration": proration,
        "quantity": item["quantity"] if item else 1,
        "pricing": {"price_details": {"price": item["price"]["id"]}} if item else None,
        "livemode": False,
    }


def invoice_create(
    store: Store, sub: dict[str, Any], lines: list[dict[str, Any]], reason: str
) -> dict[str, Any]:
    """A finalized invoice for ``lines``, then one payment attempt (credits go to the balance)."""
    total = sum(line["amount"] for line in lines)
    customer = store.get(sub["customer"], "customer")
    number = f"ENG-{len(store.find('invoice')) + 1:04d}"
    invoice = store.create(
        "in",
        {
            "customer": sub["customer"],
            "customer_email": customer.get("email"),
            "number": number,
            "currency": "eur",
            "status": "open",
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "subtotal": total,
            "total": total,
            "amount_due": max(total, 0),
            "amount_paid": 0,
            "amount_remaining": max(total, 0),
            "attempt_count": 0,
            "attempted": False,
            "period_start": lines[0]["period"]["start"] if lines else store.now(),
            "period_end": lines[0]["period"]["end"] if lines else store.now(),
            "lines": {"object": "list", "data": lines, "has_more": False, "url": ""},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["id"], "metadata": {}},
            },
            "subscription": sub["id"],
            "status_transitions": {"finalized_at": store.now(), "paid_at": None},
            "metadata": {},
        },
    )
    invoice["hosted_invoice_url"] = f"{store.public_url}/_fake/invoices/{invoice['id']}"
    invoice["invoice_pdf"] = f"{store.public_url}/_fake/invoices/{invoice['id']}/pdf"
    sub["latest_invoice"] = invoice["id"]
    store.emit("invoice.created", invoice)
    if total < 0:
        customer["balance"] = customer.get("balance", 0) + total
    invoice_pay(store, invoice)
    return invoice


def invoice_pay(store: Store, invoice: dict[str, Any]) -> bool:
    """One payment attempt; the customer's card fails while a test says it does."""
    if invoice["status"] == "paid":
        return True
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    if invoice["amount_due"] > 0 and invoice["customer"] in store.failing_customers:
        invoice["next_payment_attempt"] = store.now() + 3 * DAY
        store.emit("invoice.payment_failed", invoice)
        return False
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = store.now()
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)
    return True


# --- subscriptions ------------------------------------------------------------------------------


def subscription_start(
    store: Store, customer_id: str, line_items: list[dict[str, Any]], options: dict[str, Any]
) -> dict[str, Any]:
    now = store.now()
    trial_days = as_int(options.get("trial_period_days") or 0, "trial_period_days")
    end = now + trial_days * DAY if trial_days else add_month(now)
    sub = store.create(
        "sub",
        {
            "customer": customer_id,
            "status": "trialing" if trial_days else "active",
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "start_date": now,
            "billing_cycle_anchor": end if trial_days else now,
            "trial_start": now if trial_days else None,
            "trial_end": end if trial_days else None,
            "collection_method": "charge_automatically",
            "currency": "eur",
            "latest_invoice": None,
            "default_payment_method": None,
            "metadata": dict(options.get("metadata") or {}),
        },
    )
    items = []
    for line in line_items:
        price = store.get(line["price"], "price")
        items.append(
            store.create(
                "si",
                {
                    "subscription": sub["id"],
                    "price": price,
                    "quantity": as_int(line.get("quantity") or 1, "quantity"),
                    "current_period_start": now,
                    "current_period_end": end,
                    "metadata": {},
                },
            )
        )
    sub["items"] = {"object": "list", "data": items, "has_more": False, "url": ""}
    amount = 0 if trial_days else None
    lines = [
        _line(store, _amount(i) if amount is None else 0, i["price"]["id"], i, (now, end), False)
        for i in items
    ]
    invoice = invoice_create(store, sub, lines, "subscription_create")
    if invoice["status"] != "paid":
        sub["status"] = "incomplete"
    store.emit("customer.subscription.created", sub)
    return sub


def subscription_update(store: Store, sub: dict[str, Any], params: dict[str, Any]) -> None:
    if sub["status"] in ENDED:
        raise StripeError(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    previous: dict[str, Any] = {}
    if "cancel_at_period_end" in params:
        wanted = as_bool(params["cancel_at_period_end"])
        if wanted != sub["cancel_at_period_end"]:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = wanted
            sub["cancel_at"] = _period(sub)[1] if wanted else None
            sub["canceled_at"] = store.now() if wanted else None
    if "metadata" in params:
        sub["metadata"].update(params["metadata"] or {})
    if params.get("items"):
        old = [dict(item) for item in sub["items"]["data"]]
        for change in params["items"]:
            _item_change(store, sub, change)
        previous["items"] = {"object": "list", "data": old}
        behavior = params.get("proration_behavior", "create_prorations")
        if behavior != "none" and sub["status"] != "trialing":
            _prorate(store, sub, old, invoice_now=behavior == "always_invoice")
    if previous:
        store.emit("customer.subscription.updated", sub, previous)


def _item_change(store: Store, sub: dict[str, Any], change: dict[str, Any]) -> None:
    items = sub["items"]["data"]
    if change.get("id"):
        item = next((i for i in items if i["id"] == change["id"]), None)
        if item is None:
            raise StripeError(400, f"No such subscription item: '{change['id']}'", param="items")
        if as_bool(change.get("deleted")):
            items.remove(item)
            return
    else:
        start, end = _period(sub)
        item = store.create(
            "si",
            {
                "subscription": sub["id"],
                "quantity": 1,
                "current_period_start": start,
                "current_period_end": end,
                "metadata": {},
            },
        )
        items.append(item)
    if change.get("price"):
        item["price"] = store.get(change["price"], "price")
    if change.get("quantity") is not None:
        item["quantity"] = as_int(change["quantity"], "quantity")


def _prorate(store: Store, sub: dict[str, Any], old: list[dict], *, invoice_now: bool) -> None:
    """Credit the unused time of the old items and charge it for the new ones, as Stripe's
    proration does, to the second."""
    start, end = _period(sub)
    now = store.now()
    fraction = max(end - now, 0) / max(end - start, 1)
    lines = [
        _line(store, -round(_amount(i) * fraction), f"Unused time on {i['price']['id']}", i,
              (now, end), True)
        for i in old
    ] + [
        _line(store, round(_amount(i) * fraction), f"Remaining time on {i['price']['id']}", i,
              (now, end), True)
        for i in sub["items"]["data"]
    ]  # fmt: skip
    if invoice_now:
        invoice_create(store, sub, lines, "subscription_update")
    else:
        customer = store.get(sub["customer"], "customer")
        customer.setdefault("pending_invoice_items", []).extend(lines)


def subscription_cancel(store: Store, sub: dict[str, Any], params: dict[str, Any]) -> None:
    if sub["status"] in ENDED:
        raise StripeError(400, "This subscription has already been canceled.")
    now = store.now()
    if as_bool(params.get("prorate")) and sub["status"] != "trialing":
        start, end = _period(sub)
        fraction = max(end - now, 0) / max(end - start, 1)
        lines = [
            _line(store, -round(_amount(i) * fraction), f"Unused time on {i['price']['id']}", i,
                  (now, end), True)
            for i in sub["items"]["data"]
        ]  # fmt: skip
        invoice_create(store, sub, lines, "subscription_cancel")
    sub.update(status="canceled", canceled_at=now, ended_at=now)
    store.emit("customer.subscription.deleted", sub)


# --- the clock ----------------------------------------------------------------------------------


def _next_happening(store: Store, until: int) -> tuple[int, str, dict[str, Any]] | None:
    due = []
    for sub in store.find("subscription"):
        if sub["status"] in ENDED:
            continue
        end = _period(sub)[1]
        if sub["status"] == "trialing" and sub["id"] not in store.trial_warned:
            due.append((end - TRIAL_WILL_END_BEFORE, "trial_will_end", sub))
        due.append((end, "period_end", sub))
    due = [entry for entry in due if entry[0] <= until]
    return min(due, key=lambda entry: entry[0]) if due else None


def clock_advance(store: Store, seconds: int) -> None:
    """Move the clock, running every renewal, trial end and period-end cancellation on the way
    in the order they fall due."""
    target = store.now() + seconds
    while (happening := _next_happening(store, target)) is not None:
        when, kind, sub = happening
        store.offset += max(when - store.now(), 0)
        if kind == "trial_will_end":
            store.trial_warned.add(sub["id"])
            store.emit("customer.subscription.trial_will_end", sub)
        else:
            _period_end(store, sub)
    store.offset += max(target - store.now(), 0)


def _period_end(store: Store, sub: dict[str, Any]) -> None:
    end = _period(sub)[1]
    previous = {"status": sub["status"], "current_period_end": end}
    if sub["cancel_at_period_end"]:
        sub.update(status="canceled", ended_at=end)
        store.emit("customer.subscription.deleted", sub)
        return
    new_end = add_month(end)
    _set_period(sub, end, new_end)
    customer = store.get(sub["customer"], "customer")
    lines = customer.pop("pending_invoice_items", []) + [
        _line(store, _amount(i), i["price"]["id"], i, (end, new_end), False)
        for i in sub["items"]["data"]
    ]
    invoice = invoice_create(store, sub, lines, "subscription_cycle")
    sub["status"] = "active" if invoice["status"] == "paid" else "past_due"
    store.emit("customer.subscription.updated", sub, previous)
