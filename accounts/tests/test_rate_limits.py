"""Tier limits per user (CP-2), login limits per IP and per account (the API's login and the
admin's counting together), headers, and failing open."""

import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiScope
from accounts.services import api_key_create
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from billing.tiers import Tier
from conftest import bearer_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("still_rate_limit_window")]
ME = "/api/v1/auth/me"
SEARCH = "/api/v1/memories/search"


def test_every_api_response_carries_rate_limit_headers(auth_client):
    first = auth_client.get(ME)
    second = auth_client.get(ME)

    assert first["X-RateLimit-Limit"] == "20"
    assert int(first["X-RateLimit-Remaining"]) == 19
    assert int(second["X-RateLimit-Remaining"]) == 18
    assert int(first["X-RateLimit-Reset"]) > 0


def test_the_21st_request_of_a_free_user_in_a_minute_is_429(auth_client):
    for _ in range(20):
        assert auth_client.get(ME).status_code == 200

    response = auth_client.get(ME)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["details"]["limit"] == 20
    assert error["details"]["window"] == "minute"
    assert "reset_at" in error["details"]
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Remaining"] == "0"


def test_a_client_over_its_limit_can_still_revoke_its_own_key(user):
    _, secret = api_key_create(user=user, name="extension", scopes=list(ApiScope))
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    search = {"query": "x"}
    statuses = [client.post(SEARCH, search, format="json").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]

    assert client.delete("/api/v1/connect/key").status_code == 204
    assert client.post(SEARCH, search, format="json").status_code == 401


def test_a_pro_user_passes_where_a_free_user_stops(db):
    client = bearer_client(UserFactory(tier=Tier.PRO))

    statuses = [client.get(ME).status_code for _ in range(21)]

    assert statuses == [200] * 21
    assert client.get(ME)["X-RateLimit-Limit"] == "60"


def test_limits_are_per_user(auth_client, other_client):
    for _ in range(21):
        auth_client.get(ME)

    assert other_client.get(ME).status_code == 200


def test_login_is_limited_per_ip(api_client, user):
    attempts = [
        api_client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong-one"})
        for _ in range(6)
    ]

    assert [a.status_code for a in attempts] == [401] * 5 + [429]
    other_ip = api_client.post(
        "/api/v1/auth/login",
        {"email": "someone-else@example.com", "password": "wrong-one"},
        REMOTE_ADDR="10.9.8.7",
    )
    assert other_ip.status_code == 401


def test_login_is_limited_per_account_from_any_address(api_client, user):
    statuses = [
        api_client.post(
            "/api/v1/auth/login",
            {"email": user.email.upper(), "password": "wrong-one"},
            REMOTE_ADDR=f"10.0.0.{n}",
        ).status_code
        for n in range(6)
    ]

    assert statuses == [401] * 5 + [429]


def _admin_login(client: Client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_the_admin_login_is_limited_like_the_api_login(db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()

    wrong = [_admin_login(client, staff.email, "wrong-one").status_code for _ in range(5)]
    right = _admin_login(client, staff.email, DEFAULT_PASSWORD)

    assert wrong == [200] * 5  # the form again, with its error
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "RATE_LIMITED"
    assert int(right["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_the_admin_and_the_api_logins_share_their_counters(api_client, db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    for _ in range(3):
        api_client.post("/api/v1/auth/login", {"email": staff.email, "password": "wrong-one"})

    from_admin = [
        _admin_login(Client(), staff.email, "wrong-one", address="10.1.1.1").status_code
        for _ in range(3)
    ]

    assert from_admin == [200, 200, 429]  # the account's window: 3 + 2 tries, then refused


def test_the_admin_login_still_lets_the_right_password_in(db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()

    answer = _admin_login(client, staff.email, DEFAULT_PASSWORD)

    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_limits_can_be_switched_off(auth_client, settings):
    settings.RATELIMIT_ENABLE = False

    assert all(auth_client.get(ME).status_code == 200 for _ in range(25))


def test_the_api_fails_open_when_the_cache_is_down(auth_client, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    with caplog.at_level(logging.WARNING, logger="accounts.ratelimit"):
        statuses = [auth_client.get(ME).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    warnings = [r for r in caplog.records if "Rate limiting is off" in r.getMessage()]
    assert len(warnings) <= 1


@pytest.mark.redis
def test_limits_count_in_redis(auth_client, settings, redis_url):
    # A database of its own: clearing it must not touch what other tests keep in Redis.
    location = redis_url.rsplit("/", 1)[0] + "/15"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    }
    from django.core.cache import cache

    cache.clear()

    statuses = [auth_client.get(ME).status_code for _ in range(21)]

    assert statuses == [200] * 20 + [429]
    cache.clear()
