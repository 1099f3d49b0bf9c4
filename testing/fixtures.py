"""Fixtures for code that talks to LLM providers; registered by the root conftest.py.

- ``fake_openai``: the fake OpenAI-compatible server (one per test session, reset before each
  test), with ``.base_url``, ``.root_url``, ``.script(...)``, ``.requests``.
- ``llm_upstream``: the same, with every provider in ``settings.LLM_PROVIDERS`` pointed at it
  (server key ``SERVER_KEY``, Ollama at its root), and retries fast.
- ``llm_gateway``: an ``LLMGateway`` whose connections are closed after the (async) test.
"""

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from testing.fake_openai import FakeOpenAI

SERVER_KEY = "sk-test-server-key-0000"


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
