"""Fixtures every app's tests share."""

import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["testing.fixtures", "testing.oidc"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On pytest-xdist workers: files marked ``heavy(seconds)`` first, longest first, then the
    others by their number of tests, most first. `--dist loadfile` hands whole files out in this
    order (pytest.ini turns xdist's own ordering, by number of tests alone, off): the long files
    start on both workers at once and the short ones even out the workers' ends. By xdist's
    order the fuzz halves, one test each, came last; and as a worker takes its next file while
    it still has two tests or fewer to run, two one-test files next to each other in the queue
    end up on one worker, so the two longest go first, one to each."""
    if not hasattr(config, "workerinput"):
        return
    tests_in = Counter(item.path for item in items)
    seconds = {
        item.path: marker.args[0] for item in items if (marker := item.get_closest_marker("heavy"))
    }
    items.sort(key=lambda item: (-seconds.get(item.path, 0), -tests_in[item.path]))


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Migrating a new test template (testing/database.py) is not the first test's time:
    pytest-timeout's alarm is paused while the test database is made."""
    if fixturedef.argname not in ("django_db_setup", "django_db_modify_db_settings"):
        yield
        return
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix, django_db_blocker, django_db_createdb
) -> None:
    """Each run (each xdist worker) tests on a fresh clone of the migrated template."""
    from django.conf import settings

    from testing.database import clone_for_this_run

    test = settings.DATABASES["default"]["TEST"]
    with django_db_blocker.unblock():
        test["TEMPLATE"] = clone_for_this_run(test["NAME"], rebuild=django_db_createdb)


@pytest.fixture(scope="session", autouse=True)
def _transactional_tests_empty_only_what_they_filled():
    """Tests that commit (live servers, workers) end by emptying the tables they wrote, not by
    truncating all of them (testing/database.py says why)."""
    from unittest import mock

    from django.test import TransactionTestCase

    from testing.database import transactional_test_teardown

    with mock.patch.object(TransactionTestCase, "_fixture_teardown", transactional_test_teardown):
        yield


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
def _key_checks_reach_only_the_fake(request, monkeypatch):
    """Saving a provider key asks the provider about it (llm.services.provider_key_check). A
    test reaches only the fake server: without it (``llm_upstream``), or for a base URL a test
    sent (the fuzz test's are random hosts), no one is asked (verified: null)."""
    from llm import services

    real = services.provider_key_check

    def check(*, provider: str, api_key: str, base_url: str = ""):
        if "llm_upstream" not in request.fixturenames:
            return None
        upstream = request.getfixturevalue("llm_upstream")  # set up already: the test uses it
        if base_url and not base_url.startswith(upstream.root_url):
            return None
        return real(provider=provider, api_key=api_key, base_url=base_url)

    monkeypatch.setattr(services, "provider_key_check", check)


@pytest.fixture(autouse=True)
def _extractive_profiles(settings):
    """Memory profiles are extractive unless a test names the model that writes them (a
    user's default model still does): a chat test's fake server answers only its own turns."""
    settings.MEMORY_SUMMARY_MODEL = ""


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Tasks enqueued without a broker run inline, where the test's transaction is visible;
    tests of the background thread turn it on and wait for it (config.celery.in_process_tasks)."""
    settings.TASKS_IN_BACKGROUND = False


@pytest.fixture(autouse=True)
def _billing_off(settings):
    """Tests run as a cloud server with billing off: nothing reaches Stripe, and new accounts
    get the free tier (the self-hosted default and billing itself have their own tests, which
    turn them on through ``fake_stripe``)."""
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_ENABLED = False
    settings.BILLING_DEFAULT_TIER = "free"


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


@pytest.fixture(scope="session")
def _redis_of_the_tests(tmp_path_factory) -> Iterator[str]:
    """A Redis server of the test run's own, on a free port (started on first use): a Redis
    already on the machine may be someone else's."""
    from testing.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_url(_redis_of_the_tests) -> str:
    """The tests' own Redis, emptied for each test."""
    import redis

    client = redis.Redis.from_url(_redis_of_the_tests)
    try:
        client.flushall()
    finally:
        client.close()
    return _redis_of_the_tests


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
