"""Fixtures every app's tests share."""

import os

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["testing.fixtures"]

TEST_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def redis_url() -> str:
    """The Redis that tests may use; the test is skipped, saying why, when none answers."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {TEST_REDIS_URL} does not answer ({exc}); set REDIS_URL to run this")
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


def bearer_client(user) -> APIClient:
    """An API client that sends a real access token for ``user``, as a browser client would."""
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def auth_client(user) -> APIClient:
    return bearer_client(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return bearer_client(other_user)
