"""Billing hands every verified Stripe event to the apps above it (``stripe_event_received``),
once per event, inside the transaction that records it."""

import pytest
from djstripe.models import Event

from billing.services import stripe_event_receive
from billing.signals import stripe_event_received
from providers.payments import stripe_api
from testing.fixtures import post_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    events: list[dict] = []

    def receiver(sender, event, **kwargs):
        events.append(event)

    stripe_event_received.connect(receiver, dispatch_uid="test-receiver")
    yield events
    stripe_event_received.disconnect(dispatch_uid="test-receiver")


def _one_delivery(fake_stripe) -> dict:
    """A signed ``payment_intent.succeeded`` delivery (a payment nobody in Engram started)."""
    intent = stripe_api.payment_intent_create(
        amount=500,
        currency="eur",
        destination=None,
        application_fee_amount=None,
        description="test",
        metadata={},
    )
    fake_stripe.control(f"payment_intents/{intent['id']}/succeed")
    (delivery,) = fake_stripe.take_deliveries()
    return delivery


def test_each_event_is_sent_once(prices, fake_stripe, received):
    intent_delivery = _one_delivery(fake_stripe)
    assert post_delivery(intent_delivery).status_code == 200
    assert post_delivery(intent_delivery).json()["duplicate"] is True
    assert [event["id"] for event in received] == [intent_delivery["event_id"]]


def test_a_failing_receiver_leaves_the_event_unrecorded_for_stripe_to_retry(prices, fake_stripe):
    delivery = _one_delivery(fake_stripe)

    def failing(sender, event, **kwargs):
        raise RuntimeError("the receiver failed")

    stripe_event_received.connect(failing, dispatch_uid="failing-receiver")
    try:
        with pytest.raises(RuntimeError):
            stripe_event_receive(
                payload=delivery["payload"].encode(),
                signature=delivery["headers"]["Stripe-Signature"],
            )
    finally:
        stripe_event_received.disconnect(dispatch_uid="failing-receiver")
    assert not Event.objects.filter(id=delivery["event_id"]).exists()
    assert post_delivery(delivery).json()["duplicate"] is False
