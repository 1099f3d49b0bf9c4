"""The limits on allauth's doors (accounts/identity.py): its browser client's sign-in like its
app client's, the second step of a sign-in per account from any address, ID tokens handed over
per address; each refusal a 429 in our error shape."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD
from accounts.tests.test_mfa import turn_on_totp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("still_rate_limit_window")]
BROWSER = "/_allauth/browser/v1"
APP = "/_allauth/app/v1"


def assert_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1


def test_the_browser_sign_in_is_limited_per_account_from_any_address(user):
    def attempt(n: int, password: str = "wrong-password"):
        body = {"email": user.email, "password": password}
        client = Client(REMOTE_ADDR=f"10.1.0.{n}")
        return client.post(f"{BROWSER}/auth/login", body, content_type="application/json")

    assert [attempt(n).status_code for n in range(5)] == [400] * 5
    assert_limited(attempt(5, DEFAULT_PASSWORD))


def test_the_browser_sign_in_counts_with_the_apis_login(user):
    for _ in range(5):
        APIClient().post("/api/v1/auth/login", {"email": user.email, "password": "x" * 12})
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    assert_limited(
        Client(REMOTE_ADDR="10.1.1.1").post(
            f"{BROWSER}/auth/login", body, content_type="application/json"
        )
    )


def test_second_factor_codes_are_limited_per_account_from_any_address(user, settings):
    settings.AUTH_RATE_LIMIT = "50/m"
    turn_on_totp(user)
    cache.clear()
    settings.AUTH_RATE_LIMIT = "4/m"
    first_step = APIClient().post(
        f"{APP}/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, "json"
    )
    token = first_step.json()["meta"]["session_token"]

    def guess(n: int):
        client = APIClient(REMOTE_ADDR=f"10.2.0.{n}", HTTP_X_SESSION_TOKEN=token)
        return client.post(f"{APP}/auth/2fa/authenticate", {"code": f"{n:06d}"}, "json")

    # The sign-in was the account's first attempt; three guesses, each from a new address.
    assert [guess(n).status_code for n in range(3)] == [400] * 3
    assert_limited(guess(3))


def test_id_tokens_handed_over_are_limited_per_address(db):
    body = {"provider": "nowhere", "process": "login", "token": {"client_id": "x", "id_token": "y"}}
    client = APIClient(REMOTE_ADDR="10.3.0.1")
    assert [client.post(f"{APP}/auth/provider/token", body, "json").status_code
            for _ in range(5)] == [400] * 5  # fmt: skip
    assert_limited(client.post(f"{APP}/auth/provider/token", body, "json"))
