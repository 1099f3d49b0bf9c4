"""Billing tests drive the local Stripe (``fake_stripe``) and deliver its signed webhooks to
``/api/v1/billing/webhook`` through the API, as Stripe would."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from testing.fake_stripe import FakeStripe

WEBHOOK = "/api/v1/billing/webhook"
BILLING = "/api/v1/billing"


def post_delivery(delivery: dict, *, signature: str | None = None):
    """POST one delivery exactly as the fake signed it (or with another signature)."""
    return APIClient().post(
        WEBHOOK,
        data=delivery["payload"].encode(),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature or delivery["headers"]["Stripe-Signature"],
    )


@pytest.fixture
def deliver(fake_stripe: FakeStripe) -> Callable[[], list[dict]]:
    """Deliver every webhook the local Stripe has signed since the last call; each must be
    accepted. Answers the deliveries."""

    def run() -> list[dict]:
        deliveries = fake_stripe.take_deliveries()
        for delivery in deliveries:
            answer = post_delivery(delivery)
            assert answer.status_code == 200, (delivery["type"], answer.content)
        return deliveries

    return run


@pytest.fixture
def prices(fake_stripe: FakeStripe, db) -> list[dict]:
    """The paid tiers' products and prices in the local Stripe (``billing_sync``)."""
    from billing.services import prices_sync

    report = prices_sync()
    fake_stripe.take_deliveries()  # product and price events change no tier
    return report


@pytest.fixture
def subscribe(auth_client, fake_stripe: FakeStripe, deliver, prices):
    """Buy ``tier`` through Checkout as ``auth_client``'s user and deliver Stripe's webhooks."""

    def run(tier: str = "pro", seats: int | None = None) -> dict:
        body = {"tier": tier} if seats is None else {"tier": tier, "seats": seats}
        answer = auth_client.post(f"{BILLING}/checkout", body, format="json")
        assert answer.status_code == 200, answer.content
        session_id = answer.json()["url"].rsplit("/", 1)[1]
        session = fake_stripe.control(f"checkout/{session_id}/complete")
        deliver()
        return session

    return run
