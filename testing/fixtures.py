"""Fixtures for code that talks to LLM providers; registered by the root conftest.py.

- ``fake_openai``: the fake OpenAI-compatible server (one per test session, reset before each
  test), with ``.base_url``, ``.root_url``, ``.script(...)``, ``.requests``.
- ``llm_upstream``: the same, with every provider in ``settings.LLM_PROVIDERS`` pointed at it
  (server key ``SERVER_KEY``, Ollama at its root), and retries fast.
- ``llm_gateway``: an ``LLMGateway`` whose connections are closed after the (async) test.
- ``fake_stripe``: the local Stripe (``testing/fake_stripe``, a process of its own for the test
  session, reset before each test) with billing switched on and pointed at it; its webhook
  deliveries are signed with ``STRIPE_WEBHOOK_SECRET`` and kept for the test to deliver.
- ``engram``: the URL of a live Engram server (one per test module) that talks to the fake
  OpenAI-compatible server; tests that use it commit their data (``django_db(transaction=True)``).
- ``broker_messages``: what the test's tasks put on the queue, ``(task name, args, kwargs)``.
"""

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
from rest_framework.test import APIClient

from testing.fake_openai import FakeOpenAI
from testing.fake_stripe import FakeStripe
from testing.live import live_server

SERVER_KEY = "sk-test-server-key-0000"
# Shaped like Stripe's test-mode values (dj-stripe checks the shape), and plainly not real ones.
FAKE_STRIPE_KEY = "sk_test_engramLocalStripeFakeKeyNotReal"
FAKE_STRIPE_WEBHOOK_SECRET = "whsec_engram_local"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def llm_upstream(fake_openai: FakeOpenAI, settings) -> FakeOpenAI:
    providers = {
        name: {**config, "base_url": fake_openai.base_url, "api_key": SERVER_KEY}
        for name, config in settings.LLM_PROVIDERS.items()
    }
    providers["ollama"] = {**providers["ollama"], "base_url": fake_openai.root_url, "api_key": ""}
    settings.LLM_PROVIDERS = providers
    settings.LLM_RETRY_BASE_DELAY = 0.001
    settings.LLM_RETRY_MAX_DELAY = 0.05
    settings.LLM_READ_TIMEOUT = 5.0
    settings.LLM_CONNECT_TIMEOUT = 2.0
    return fake_openai


@pytest_asyncio.fixture
async def llm_gateway() -> AsyncIterator["LLMGateway"]:  # noqa: F821
    from providers.llm.gateway import LLMGateway

    async with LLMGateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def engram(
    django_db_setup, django_db_blocker, fake_openai_server, tmp_path_factory
) -> Iterator[str]:
    """A live server for the module's tests (its URL): the clients people use (openai, mcp,
    mem0ai) over real HTTP. It embeds with the hashing embedder and asks the fake OpenAI server
    with the server's key, without retries (a scripted error is the answer)."""
    env = {
        "OPENAI_BASE_URL": fake_openai_server.base_url,
        "OPENAI_API_KEY": SERVER_KEY,
        "EMBEDDING_BACKEND": "hashing",
        "LLM_MAX_RETRIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path_factory.mktemp("engram") / "server.log"
    with django_db_blocker.unblock(), live_server(env, log) as server:
        yield server.url


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


STRIPE_WEBHOOK = "/api/v1/billing/webhook"


def post_delivery(delivery: dict, *, signature: str | None = None):
    """POST one webhook delivery of the local Stripe exactly as it signed it (or with another
    signature), as Stripe would."""
    return APIClient().post(
        STRIPE_WEBHOOK,
        data=delivery["payload"].encode(),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature or delivery["headers"]["Stripe-Signature"],
    )


@pytest.fixture
def deliver(fake_stripe: FakeStripe) -> Callable[[], list[dict]]:
    """Deliver every webhook the local Stripe has signed since the last call; each must be
    accepted. Answers the deliveries."""

    def run() -> list[dict]:
        deliveries = fake_stripe.take_deliveries()
        for delivery in deliveries:
            answer = post_delivery(delivery)
            assert answer.status_code == 200, (delivery["type"], answer.content)
        return deliveries

    return run


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe, settings) -> FakeStripe:
    fake_stripe_server.reset()
    fake_stripe_server.control("webhook_endpoints", secret=FAKE_STRIPE_WEBHOOK_SECRET)
    settings.STRIPE_SECRET_KEY = FAKE_STRIPE_KEY
    settings.BILLING_ENABLED = True
    settings.STRIPE_API_BASE = fake_stripe_server.url
    settings.STRIPE_WEBHOOK_SECRET = FAKE_STRIPE_WEBHOOK_SECRET
    return fake_stripe_server


@pytest.fixture
def fresh_database_pool() -> Iterator[None]:
    """For WebSocket tests: each test's sockets run their database work on threads that end
    with the test, and a connection a finished thread still held is never given back to the
    pool. Start the next test with a fresh pool rather than let the tests use it up."""
    from django.db import connection

    yield
    connection.close()
    connection.close_pool()


@pytest.fixture
def broker_messages(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Every task sent during the test as the queue would carry it: ``(task name, args,
    kwargs)``. The tasks still run as the suite runs them."""
    from config.celery import EngramTask

    sent: list[tuple[str, tuple, dict]] = []
    send = EngramTask.apply_async

    def recording(self, args=None, kwargs=None, **options):
        sent.append((self.name, tuple(args or ()), dict(kwargs or {})))
        return send(self, args, kwargs, **options)

    monkeypatch.setattr(EngramTask, "apply_async", recording)
    return sent
