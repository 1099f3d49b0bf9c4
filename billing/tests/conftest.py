"""Billing tests drive the local Stripe (``fake_stripe``) and deliver its signed webhooks to
``/api/v1/billing/webhook`` through the API, as Stripe would."""

import pytest

from testing.fake_stripe import FakeStripe
from testing.fixtures import STRIPE_WEBHOOK

WEBHOOK = STRIPE_WEBHOOK
BILLING = "/api/v1/billing"


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
