"""A subscription's life through the API and Stripe's signed webhooks, against the local Stripe:
the tier follows what is paid for, and the very next request carries its limits."""

from datetime import UTC, datetime, timedelta
from urllib.error import HTTPError

import pytest
from freezegun import freeze_time

from billing.selectors import customer_of
from billing.tests.conftest import BILLING
from providers.payments.stripe_api import subscriptions_of

ME = "/api/v1/auth/me"
pytestmark = pytest.mark.django_db


def rate_limit(client) -> int:
    return int(client.get(ME)["X-RateLimit-Limit"])


def subscription(client) -> dict:
    answer = client.get(f"{BILLING}/subscription")
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_checkout_then_webhook_makes_the_user_pro(auth_client, fake_stripe, subscribe, user):
    assert rate_limit(auth_client) == 20

    session = subscribe("pro")

    assert session["status"] == "complete"
    assert rate_limit(auth_client) == 60
    state = subscription(auth_client)
    assert (state["tier"], state["status"], state["seats"]) == ("pro", "active", 1)
    assert state["cancel_at_period_end"] is False
    assert datetime.fromisoformat(state["current_period_end"]) > datetime.now(UTC) + timedelta(
        days=27
    )
    invoices = auth_client.get(f"{BILLING}/invoices").json()["results"]
    assert [(i["status"], i["total"], i["currency"]) for i in invoices] == [("paid", 1500, "eur")]
    assert invoices[0]["hosted_invoice_url"].startswith(fake_stripe.url)


def test_only_the_newest_checkout_can_be_paid(auth_client, fake_stripe, deliver, prices, user):
    # Checkouts opened in two tabs (or for two tiers), then both paid: one subscription.
    urls = [
        auth_client.post(f"{BILLING}/checkout", {"tier": tier}, format="json").json()["url"]
        for tier in ("pro", "power", "pro")
    ]
    paid = []
    for url in urls:
        try:
            paid.append(fake_stripe.control(f"checkout/{url.rsplit('/', 1)[1]}/complete"))
        except HTTPError as refused:
            assert b"This Checkout Session is expired" in refused.read()
    deliver()

    assert len(paid) == 1 and paid[0]["id"] == urls[-1].rsplit("/", 1)[1]
    customer = customer_of(user=user)
    assert [s["status"] for s in subscriptions_of(customer_id=customer.id)] == ["active"]
    assert subscription(auth_client)["tier"] == "pro"


def test_checkout_answers_a_stripe_checkout_url(auth_client, fake_stripe, prices, user):
    answer = auth_client.post(f"{BILLING}/checkout", {"tier": "power"}, format="json")

    assert answer.status_code == 200
    assert answer.json()["url"].startswith(f"{fake_stripe.url}/_fake/checkout/cs_")
    user.refresh_from_db()
    assert user.tier == "free"  # nothing is granted before Stripe reports the payment


def _sent(fake_stripe, path: str) -> dict:
    [params] = [
        r["params"] for r in fake_stripe.requests() if r["method"] == "POST" and r["path"] == path
    ]
    return params


def test_stripe_sends_the_customer_back_to_the_address_they_reached(
    auth_client, fake_stripe, prices, subscribe
):
    # given a server on a port of its own, no return URLs configured
    here = {"HTTP_HOST": "127.0.0.1:9123"}

    auth_client.post(f"{BILLING}/checkout", {"tier": "pro"}, format="json", **here)

    checkout = _sent(fake_stripe, "/v1/checkout/sessions")
    assert checkout["success_url"] == "http://127.0.0.1:9123/?billing=success"
    assert checkout["cancel_url"] == "http://127.0.0.1:9123/?billing=cancel"
    subscribe("pro")
    assert auth_client.post(f"{BILLING}/portal", **here).status_code == 200
    assert _sent(fake_stripe, "/v1/billing_portal/sessions")["return_url"] == (
        "http://127.0.0.1:9123/"
    )


def test_a_configured_return_url_wins(auth_client, fake_stripe, prices, settings):
    settings.BILLING_SUCCESS_URL = "https://engram.example/paid"

    auth_client.post(f"{BILLING}/checkout", {"tier": "pro"}, format="json")

    checkout = _sent(fake_stripe, "/v1/checkout/sessions")
    assert checkout["success_url"] == "https://engram.example/paid"
    assert checkout["cancel_url"] == "http://testserver/?billing=cancel"


def test_upgrade_to_power_prorates(auth_client, subscribe, deliver):
    subscribe("pro")

    answer = auth_client.patch(f"{BILLING}/subscription", {"tier": "power"}, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json()["tier"] == "power"
    deliver()
    assert rate_limit(auth_client) == 120
    newest = auth_client.get(f"{BILLING}/invoices").json()["results"][0]
    assert newest["billing_reason"] == "subscription_update"
    # Almost the whole month is left: about €29 - €15 is charged now, never the full €29.
    assert 1300 <= newest["total"] <= 1400
    assert newest["status"] == "paid"


def test_team_with_three_seats_gives_each_person_one_seats_limits(auth_client, subscribe):
    subscribe("team", seats=3)

    state = subscription(auth_client)
    assert (state["tier"], state["seats"]) == ("team", 3)
    # Per seat, per person (teams/: the members have the same), never pooled on the owner.
    assert rate_limit(auth_client) == 200
    assert auth_client.get(f"{BILLING}/invoices").json()["results"][0]["total"] == 3 * 4900


def test_seats_belong_to_the_team_tier_only(auth_client, fake_stripe, prices):
    answer = auth_client.post(f"{BILLING}/checkout", {"tier": "pro", "seats": 2}, format="json")

    assert answer.status_code == 400
    assert "seats" in answer.json()["error"]["details"]


def test_failed_payment_keeps_the_tier_for_the_grace_period_then_free(
    auth_client, fake_stripe, subscribe, deliver, user, settings
):
    settings.BILLING_GRACE_DAYS = 7
    subscribe("pro")
    customer = auth_client.get(f"{BILLING}/subscription").json()
    fake_stripe.control(f"customers/{user_customer_id(user)}/card", fails=True)

    fake_stripe.control("clock/advance", days=31)  # the renewal's charge is declined
    deliver()

    state = subscription(auth_client)
    assert state["status"] == "past_due"
    assert state["tier"] == "pro"
    grace_ends = datetime.fromisoformat(state["grace_ends_at"])
    assert customer["subscription_id"] == state["subscription_id"]

    from billing.tasks import grace_sweep

    with freeze_time(grace_ends - timedelta(hours=1)):
        grace_sweep()
    user.refresh_from_db()
    assert user.tier == "pro"

    with freeze_time(grace_ends + timedelta(hours=1)):
        grace_sweep()
    assert rate_limit(auth_client) == 20
    assert subscription(auth_client)["tier"] == "free"


def test_cancel_at_period_end_keeps_the_tier_until_the_period_ends(
    auth_client, fake_stripe, subscribe, deliver
):
    subscribe("pro")

    answer = auth_client.delete(f"{BILLING}/subscription")

    assert answer.status_code == 200
    assert (answer.json()["tier"], answer.json()["cancel_at_period_end"]) == ("pro", True)
    deliver()
    assert rate_limit(auth_client) == 60

    fake_stripe.control("clock/advance", days=32)
    delivered = deliver()

    assert "customer.subscription.deleted" in [d["type"] for d in delivered]
    assert rate_limit(auth_client) == 20
    assert subscription(auth_client)["status"] is None


def test_cancel_now_ends_it_at_once_with_the_unused_time_credited(auth_client, subscribe, deliver):
    subscribe("pro")

    answer = auth_client.delete(f"{BILLING}/subscription?now=true")

    assert answer.status_code == 200
    assert answer.json()["tier"] == "free"
    deliver()
    assert rate_limit(auth_client) == 20
    credit = auth_client.get(f"{BILLING}/invoices").json()["results"][0]
    assert credit["billing_reason"] == "subscription_cancel"
    assert -1500 <= credit["total"] < -1400


def test_a_trial_gives_the_tier_and_warns_before_it_ends(
    auth_client, fake_stripe, subscribe, deliver, settings
):
    settings.BILLING_TRIAL_DAYS = 14
    subscribe("pro")
    state = subscription(auth_client)
    assert (state["tier"], state["status"]) == ("pro", "trialing")
    assert state["trial_end"] is not None

    fake_stripe.control("clock/advance", days=12)
    assert "customer.subscription.trial_will_end" in [d["type"] for d in deliver()]
    fake_stripe.control("clock/advance", days=3)
    deliver()

    assert subscription(auth_client)["status"] == "active"
    assert rate_limit(auth_client) == 60


def user_customer_id(user) -> str:
    from billing.selectors import customer_of

    return customer_of(user=user).id
