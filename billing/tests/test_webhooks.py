"""Stripe's webhooks: signed on the raw body, fresh, processed once, and harmless when they
arrive twice or out of order (each one makes us re-read the subscription from Stripe)."""

import hashlib
import hmac
import json
import time

import pytest
from djstripe.models import Event

from billing.tests.conftest import BILLING
from testing.fixtures import FAKE_STRIPE_WEBHOOK_SECRET, post_delivery

pytestmark = pytest.mark.django_db


def sign(payload: str, *, at: int, secret: str = FAKE_STRIPE_WEBHOOK_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def start_checkout(client) -> str:
    answer = client.post(f"{BILLING}/checkout", {"tier": "pro"}, format="json")
    assert answer.status_code == 200, answer.content
    return answer.json()["url"].rsplit("/", 1)[1]


def test_the_same_event_twice_changes_nothing_more(auth_client, fake_stripe, prices, user):
    fake_stripe.control(f"checkout/{start_checkout(auth_client)}/complete")
    deliveries = fake_stripe.take_deliveries()
    for delivery in deliveries:
        assert post_delivery(delivery).json()["duplicate"] is False
    user.refresh_from_db()
    state = (user.tier, Event.objects.count(), fake_stripe.requests())

    again = [post_delivery(delivery) for delivery in deliveries]

    assert {answer.status_code for answer in again} == {200}
    assert {answer.json()["duplicate"] for answer in again} == {True}
    user.refresh_from_db()
    assert (user.tier, Event.objects.count()) == state[:2]
    assert fake_stripe.requests() == state[2]  # a duplicate is not even re-read from Stripe


def test_events_out_of_order_settle_on_stripes_state(auth_client, fake_stripe, subscribe, user):
    subscribe("pro")
    auth_client.patch(f"{BILLING}/subscription", {"tier": "power"}, format="json")
    upgraded = fake_stripe.take_deliveries()
    auth_client.delete(f"{BILLING}/subscription?now=true")
    cancelled = fake_stripe.take_deliveries()
    assert any(d["type"] == "customer.subscription.deleted" for d in cancelled)

    # Newest first: the upgrade's events, whose payloads say "power", arrive after the
    # cancellation and must not bring the tier back.
    for delivery in reversed(upgraded + cancelled):
        assert post_delivery(delivery).status_code == 200

    user.refresh_from_db()
    assert user.tier == "free"
    assert auth_client.get(f"{BILLING}/subscription").json()["status"] is None


def test_a_bad_signature_is_refused_and_changes_nothing(auth_client, fake_stripe, prices, user):
    fake_stripe.control(f"checkout/{start_checkout(auth_client)}/complete")
    completed = next(
        d for d in fake_stripe.take_deliveries() if d["type"] == "checkout.session.completed"
    )
    now = int(time.time())

    forged = post_delivery(
        completed, signature=sign(completed["payload"], at=now, secret="whsec_x")
    )
    tampered = post_delivery(
        {**completed, "payload": completed["payload"].replace('"paid"', '"unpaid"')}
    )
    unsigned = post_delivery(completed, signature="nonsense")

    for answer in (forged, tampered, unsigned):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    user.refresh_from_db()
    assert user.tier == "free"
    assert not Event.objects.exists()


@pytest.mark.parametrize("direction", [-1, 1], ids=["past", "future"])
def test_a_timestamp_outside_the_tolerance_is_refused(
    auth_client, fake_stripe, prices, user, settings, direction
):
    fake_stripe.control(f"checkout/{start_checkout(auth_client)}/complete")
    completed = next(
        d for d in fake_stripe.take_deliveries() if d["type"] == "checkout.session.completed"
    )
    # An hour ahead: a signature dated in the future would be replayable until then.
    off = int(time.time()) + direction * max(3600, settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS + 60)

    answer = post_delivery(completed, signature=sign(completed["payload"], at=off))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    user.refresh_from_db()
    assert user.tier == "free"
    assert not Event.objects.exists()


def test_a_signed_body_nested_deeper_than_json_may_be_is_refused(fake_stripe):
    payload = '{"object": "event", "id": "evt_deep", "data": ' + "[" * 1000 + "]" * 1000 + "}"

    answer = post_delivery({"payload": payload}, signature=sign(payload, at=int(time.time())))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not Event.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_refused(fake_stripe):
    payload = json.dumps({"hello": "world"})

    answer = post_delivery({"payload": payload}, signature=sign(payload, at=int(time.time())))

    assert answer.status_code == 400
