"""Readiness says what runs and whether each configured LLM provider answers, from a cache."""

import pytest

from testing.live import free_port

pytestmark = pytest.mark.django_db


def test_readiness_names_version_uptime_and_environment(client, settings):
    body = client.get("/health/ready").json()

    assert body["version"] == settings.ENGRAM_VERSION
    assert body["environment"] == settings.ENVIRONMENT
    assert body["commit"]
    assert body["uptime_seconds"] >= 0
    assert body["providers"] == {}  # tests run with no server keys


def test_configured_providers_are_probed_once_per_cache_period(client, llm_upstream, settings):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings.LLM_PROVIDERS = {
        "openai": {**settings.LLM_PROVIDERS["openai"]},
        "xai": {**settings.LLM_PROVIDERS["xai"], "base_url": closed},
    }

    first = client.get("/health/ready").json()
    second = client.get("/health/ready").json()

    assert first["providers"]["openai"]["status"] == "reachable"
    assert first["providers"]["xai"]["status"] == "unreachable"
    assert second["providers"] == first["providers"]
    # One probe for the reachable provider, not one per readiness request; no key was sent.
    assert len(llm_upstream.requests) == 1
    assert llm_upstream.requests[0].authorization is None
    assert client.get("/health/ready").status_code == 200  # providers do not make it unready
