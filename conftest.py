"""Fixtures every app's tests share."""

import os
import time

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["testing.fixtures"]

# The suite runs on the in-process fallbacks (`make test` clears REDIS_URL); tests that need
# Redis ask for it through the `redis_url` fixture.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached values never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher costs ~0.3 s per hash on purpose; tests hash hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def hashing_embedder(settings):
    """Tests embed with the fast deterministic embedder unless they ask for another."""
    settings.EMBEDDING_BACKEND = "hashing"
    settings.EMBEDDING_DIMENSIONS = 384


@pytest.fixture(autouse=True)
def _no_real_llm_keys(settings):
    """No test reaches a real LLM provider with a key from the environment; tests that talk to
    one use the fake server (``llm_upstream``)."""
    settings.LLM_PROVIDERS = {
        name: {**config, "api_key": ""} for name, config in settings.LLM_PROVIDERS.items()
    }


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Tasks enqueued without a broker run inline, where the test's transaction is visible;
    tests of the background thread turn it on and wait for it (config.celery.in_process_tasks)."""
    settings.TASKS_IN_BACKGROUND = False


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Run on-commit work (eager tasks: embedding, extraction, the summary) as a real commit
    would, for what ``call`` does."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


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
        pytest.skip(f"Redis at {TEST_REDIS_URL} does not answer ({exc}); set TEST_REDIS_URL")
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


@pytest.fixture
def operator_client(client):
    """A signed-in superuser on the operator console (the Django admin)."""
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def bearer_client(user) -> APIClient:
    """An API client that sends a real access token for ``user``, as a browser client would."""
    from accounts.services import tokens_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


@pytest.fixture
def auth_client(user) -> APIClient:
    return bearer_client(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return bearer_client(other_user)


@pytest.fixture
def still_rate_limit_window(monkeypatch):
    """Rate-limit windows are fixed per key (django-ratelimit); a test whose requests straddled
    a window's edge would see its count start over. Stop the clock those windows read."""
    import types

    import django_ratelimit.core

    now = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", types.SimpleNamespace(time=lambda: now))
