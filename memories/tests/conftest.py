import json

import pytest

from memories import services
from testing.fake_openai import Reply


@pytest.fixture(autouse=True)
def summary_at_once(settings):
    settings.MEMORY_SUMMARY_DELAY_SECONDS = 0


@pytest.fixture
def embed_now():
    """Embed the given memories as the background task would (no broker, no commit needed)."""

    def embed(*memories) -> None:
        services.memories_embed(memory_ids=[memory.pk for memory in memories])
        for memory in memories:
            memory.refresh_from_db()

    return embed


@pytest.fixture
def remember(embed_now):
    """Store and embed a memory as the API and the embedding task would."""

    def store(user, content: str, **fields):
        memory, _ = services.memory_create(
            user=user, draft=services.MemoryDraft(content=content, **fields)
        )
        embed_now(memory)
        return memory

    return store


def facts_reply(*facts: str) -> Reply:
    """The fake model's answer to the fact-extraction prompt."""
    return Reply(text=json.dumps({"facts": list(facts)}))


def decisions_reply(*operations: dict) -> Reply:
    """The fake model's answer to the decision prompt."""
    return Reply(text=json.dumps({"operations": list(operations)}))
