"""The local Stripe: a stateful fake of the Stripe API, run as its own process on 127.0.0.1.

Why our own fake and not localstripe: localstripe 1.15 implements customers, products, plans,
subscriptions, invoices, payment intents and signed webhooks, but not Prices, Checkout Sessions,
the Billing Portal or Connect. dj-stripe 2.11 works in Prices, Engram sells through Checkout and
the Portal, and the marketplace will need Connect, so a shim would have grown larger than the
fake. This one implements exactly the subset Engram uses, in Stripe's wire format:

- form-encoded requests (``items[0][price]``, ``metadata[k]``, ``expand[]``) with a Bearer
  ``sk_test_…`` key; objects, ``list`` objects and ``{"error": {type, message, param, code}}``;
  ``expand`` on any id field, lists included;
- ``/v1/account``, customers, products, prices (with ``lookup_key``/``transfer_lookup_key``),
  Checkout Sessions (subscription mode, trials through ``subscription_data``), Billing Portal
  sessions, subscriptions (items, quantities, ``proration_behavior``, ``cancel_at_period_end``,
  cancel now with ``prorate``), invoices (``hosted_invoice_url``, ``invoice_pdf``, ``/pay``),
  events;
- webhooks: every change emits the events Stripe emits, each delivered to every endpoint with
  ``Stripe-Signature: t=…,v1=…`` (HMAC-SHA256 of ``t.payload`` under the endpoint secret).

Control routes under ``/_fake/`` stand in for what a person or time does on Stripe's side:
``POST /_fake/checkout/{id}/complete`` (pay a Checkout Session), ``/_fake/customers/{id}/card``
(``{"fails": true}`` declines that customer's charges), ``/_fake/clock/advance``
(``{"days": n}``: renewals, trial ends and period-end cancellations happen in order),
``/_fake/webhook_endpoints`` (``{url?, secret}``; without a URL deliveries are kept for a test to
take from ``/_fake/deliveries/take``) and ``/_fake/reset``. ``url`` of a Checkout Session is a
page with a "Pay" button that does the same as ``complete`` and redirects to ``success_url``.

The clock only moves subscriptions: webhook signatures carry the wall clock, as Stripe's do.

Connect, for the marketplace (``connect.py``): Express accounts and account links, PaymentIntents
as destination charges (``application_fee_amount``, ``transfer_data[destination]``), refunds that
reverse the transfer and the fee, and transfers; a POST repeating an ``Idempotency-Key`` answers
as the first did. ``/_fake/accounts/{id}/onboard`` finishes a publisher's onboarding and
``/_fake/payment_intents/{id}/succeed`` is the buyer paying.

Tests use it through the ``fake_stripe`` fixture (``testing/fixtures.py``): one process per test
session, reset before each test. Developers run ``python -m testing.fake_stripe`` (see
docs/billing.md, "The local Stripe").
"""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class FakeStripe:
    """A handle on the fake's process: start it, point ``stripe.api_base`` at ``url``, and drive
    it through the control routes."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "FakeStripe":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "testing.fake_stripe", "--port", "0"],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError("The local Stripe did not start.")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None

    def __enter__(self) -> "FakeStripe":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def control(self, path: str, **body: Any) -> Any:
        request = urllib.request.Request(
            f"{self.url}/_fake/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        self.control("reset")

    def take_deliveries(self) -> list[dict[str, Any]]:
        """Signed webhook deliveries made since the last call (endpoints without a URL)."""
        return self.control("deliveries/take")["deliveries"]

    def requests(self) -> list[dict[str, Any]]:
        """The Stripe API requests the fake has answered since its last reset."""
        return self.control("requests")["requests"]
