import pytest

from memories import services


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
