"""The local Stripe answers the official client in Stripe's wire format, and signs webhooks as
Stripe does."""

import json

import pytest
import stripe

from testing.fake_stripe.wire import decode_form
from testing.fixtures import FAKE_STRIPE_KEY, FAKE_STRIPE_WEBHOOK_SECRET


@pytest.fixture
def client(fake_stripe):
    stripe.api_base = fake_stripe.url
    return fake_stripe


def pro_checkout() -> tuple:
    """A customer and an open Checkout Session for a €15 monthly price."""
    customer = stripe.Customer.create(api_key=FAKE_STRIPE_KEY, email="a@example.com")
    product = stripe.Product.create(api_key=FAKE_STRIPE_KEY, name="Pro")
    price = stripe.Price.create(
        api_key=FAKE_STRIPE_KEY,
        product=product.id,
        unit_amount=1500,
        currency="eur",
        recurring={"interval": "month"},
    )
    session = stripe.checkout.Session.create(
        api_key=FAKE_STRIPE_KEY,
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    return customer, session


def test_form_encoding_nests_like_stripe():
    decoded = decode_form(
        "items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2&expand[]=a&expand[]=b"
        "&metadata[tier]=pro&recurring[interval]=month"
    )

    assert decoded == {
        "items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}],
        "expand": ["a", "b"],
        "metadata": {"tier": "pro"},
        "recurring": {"interval": "month"},
    }


def test_objects_lists_expand_and_errors_through_the_official_client(client):
    product = stripe.Product.create(api_key=FAKE_STRIPE_KEY, name="Pro", id="engram_pro")
    price = stripe.Price.create(
        api_key=FAKE_STRIPE_KEY,
        product=product.id,
        unit_amount=1500,
        currency="eur",
        recurring={"interval": "month"},
        lookup_key="engram_pro_monthly",
    )

    listed = stripe.Price.list(
        api_key=FAKE_STRIPE_KEY, lookup_keys=["engram_pro_monthly"], expand=["data.product"]
    )
    assert listed.object == "list"
    assert [(p.id, p.product.name) for p in listed.data] == [(price.id, "Pro")]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Customer.retrieve("cus_missing", api_key=FAKE_STRIPE_KEY)
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.AuthenticationError):
        stripe.Customer.list(api_key="not_a_key")


def test_webhooks_verify_with_stripes_own_check(client):
    _, session = pro_checkout()
    client.take_deliveries()

    client.control(f"checkout/{session.id}/complete")
    deliveries = client.take_deliveries()

    assert [d["type"] for d in deliveries][-1] == "checkout.session.completed"
    for delivery in deliveries:
        event = stripe.Webhook.construct_event(
            delivery["payload"], delivery["headers"]["Stripe-Signature"], FAKE_STRIPE_WEBHOOK_SECRET
        )
        assert event.id == json.loads(delivery["payload"])["id"]
    completed = stripe.checkout.Session.retrieve(
        session.id, api_key=FAKE_STRIPE_KEY, expand=["subscription"]
    )
    assert (completed.status, completed.subscription.status) == ("complete", "active")


def test_the_clock_renews_and_a_declined_card_makes_it_past_due(client):
    customer, session = pro_checkout()
    client.control(f"checkout/{session.id}/complete")

    client.control("clock/advance", days=31)
    assert len(stripe.Invoice.list(api_key=FAKE_STRIPE_KEY, customer=customer.id).data) == 2
    client.control(f"customers/{customer.id}/card", fails=True)
    client.control("clock/advance", days=31)

    subscription = stripe.Subscription.list(api_key=FAKE_STRIPE_KEY, customer=customer.id).data[0]
    assert subscription.status == "past_due"
    types = [d["type"] for d in client.take_deliveries()]
    assert "invoice.payment_failed" in types
