"""Going down a tier never deletes anything: over a limit, a user reads, exports and deletes
what they have, and only creating more is refused with QUOTA_EXCEEDED naming the limit."""

import dataclasses

import pytest

from billing import tiers
from billing.tests.conftest import BILLING

pytestmark = pytest.mark.django_db
PROVIDER_KEYS = "/api/v1/auth/provider-keys"
MEMORIES = "/api/v1/memories"
# Shaped like a provider key, and plainly not a real one.
PROVIDER_KEY = "test-provider-key-not-real-0000"


@pytest.fixture
def small_free_tier(monkeypatch):
    """The free tier with room for two memories, so a test can pass it with a few."""
    free = dataclasses.replace(tiers.TIERS[tiers.Tier.FREE], memories=2)
    monkeypatch.setitem(tiers.TIERS, tiers.Tier.FREE, free)


def test_over_quota_after_a_downgrade_reads_work_and_creates_are_refused(
    auth_client, subscribe, deliver, small_free_tier, user, committing
):
    subscribe("pro")
    for provider in ("openai", "xai"):
        answer = auth_client.put(f"{PROVIDER_KEYS}/{provider}", {"api_key": PROVIDER_KEY})
        assert answer.status_code in (200, 201), answer.content
    ids = [
        committing(lambda n=n: auth_client.post(MEMORIES, {"content": f"Fact {n}"})).json()["id"]
        for n in range(3)
    ]

    assert auth_client.delete(f"{BILLING}/subscription?now=true").json()["tier"] == "free"
    deliver()

    assert len(auth_client.get(MEMORIES).json()["results"]) == 3
    assert auth_client.get(f"{MEMORIES}/{ids[0]}").status_code == 200
    export = auth_client.get(f"{MEMORIES}/export")
    assert len(b"".join(export.streaming_content).splitlines()) == 3
    assert len(auth_client.get(PROVIDER_KEYS).json()) == 2

    refused_memory = auth_client.post(MEMORIES, {"content": "One more"})
    refused_key = auth_client.put(f"{PROVIDER_KEYS}/openrouter", {"api_key": PROVIDER_KEY})

    for answer, feature, limit in (
        (refused_memory, "memories", 2),
        (refused_key, "provider_keys", 1),
    ):
        assert answer.status_code == 403
        error = answer.json()["error"]
        assert error["code"] == "QUOTA_EXCEEDED"
        assert (error["details"]["feature"], error["details"]["limit"]) == (feature, limit)

    assert auth_client.delete(f"{MEMORIES}/{ids[0]}").status_code == 204
    assert auth_client.delete(f"{PROVIDER_KEYS}/xai").status_code == 204
