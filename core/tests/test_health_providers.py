"""Readiness says what runs and whether each configured LLM provider answers, from a cache."""

import pytest

from testing.live import free_port
from testing.redis_server import redis_server

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


def test_readiness_is_503_with_each_check_while_redis_is_down(client, llm_upstream, settings,
                                                              tmp_path):  # fmt: skip
    # Redis is the cache as well: the providers' cached probes were read from it.
    with redis_server(tmp_path) as server:
        settings.REDIS_URL = server.url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": server.url,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        assert client.get("/health/ready").status_code == 200
        server.kill()

        response = client.get("/health/ready")

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "fail"
    assert "ConnectionError" in body["checks"]["redis"]["detail"]
    # Providers are still probed, just not cached.
    assert body["providers"]["openai"]["status"] == "reachable"
