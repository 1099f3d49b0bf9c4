"""Without STRIPE_SECRET_KEY the server is a self-hosted install: billing endpoints say so,
nothing contacts Stripe, and new accounts get the operator's default tier."""

import pytest

from billing.tests.conftest import BILLING, WEBHOOK

pytestmark = pytest.mark.django_db


def register(client, email: str):
    body = {"email": email, "password": "a long enough passphrase"}
    return client.post("/api/v1/auth/register", body, format="json")


@pytest.fixture
def billing_off(fake_stripe, settings):
    """The local Stripe is running and the client would reach it: any call would be seen."""
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_ENABLED = False
    return fake_stripe


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "checkout", {"tier": "pro"}),
        ("post", "portal", None),
        ("get", "subscription", None),
        ("patch", "subscription", {"tier": "power"}),
        ("delete", "subscription", None),
        ("get", "invoices", None),
    ],
)
def test_billing_endpoints_answer_billing_disabled(billing_off, auth_client, method, path, body):
    answer = getattr(auth_client, method)(f"{BILLING}/{path}", body, format="json")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "BILLING_DISABLED"
    assert billing_off.requests() == []


def test_a_webhook_is_refused_without_reaching_stripe(billing_off, api_client):
    answer = api_client.post(
        WEBHOOK, data=b"{}", content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=x"
    )

    assert answer.json()["error"]["code"] == "BILLING_DISABLED"
    assert billing_off.requests() == []


def test_plans_and_usage_answer_on_every_server(billing_off, auth_client, api_client):
    plans = api_client.get(f"{BILLING}/plans")
    usage = auth_client.get(f"{BILLING}/usage")

    assert plans.status_code == usage.status_code == 200
    assert [p["tier"] for p in plans.json()["results"]] == ["free", "pro", "power", "team"]
    assert usage.json()["tier"] == "free"
    assert billing_off.requests() == []


def test_self_hosted_accounts_are_not_throttled_like_free_ones(api_client, settings):
    # What a self-hosted server does with no billing variables set (config/settings.py).
    settings.BILLING_DEFAULT_TIER = "self_hosted"

    answer = register(api_client, "owner@example.com")

    assert answer.status_code == 201
    assert answer.json()["user"]["tier"] == "self_hosted"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['access']}")
    me = api_client.get("/api/v1/auth/me")
    assert int(me["X-RateLimit-Limit"]) == 600
    limits = api_client.get(f"{BILLING}/usage").json()
    assert limits["requests_today"]["limit"] is None
    assert limits["memories"]["limit"] is None


def test_the_operator_chooses_the_tier_of_new_accounts(api_client, settings):
    settings.BILLING_DEFAULT_TIER = "pro"

    answer = register(api_client, "new@example.com")

    assert answer.json()["user"]["tier"] == "pro"
