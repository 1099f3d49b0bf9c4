import factory

from accounts.tests.factories import UserFactory
from memories.models import Memory
from memories.services import content_hash


class MemoryFactory(factory.django.DjangoModelFactory):
    """A stored memory, not yet embedded (use the ``embed_now`` fixture for vectors)."""

    class Meta:
        model = Memory

    user = factory.SubFactory(UserFactory)
    content = factory.Sequence(lambda n: f"Memory number {n} about something worth keeping.")
    content_hash = factory.LazyAttribute(lambda memory: content_hash(memory.content))
    size_bytes = factory.LazyAttribute(lambda memory: len(memory.content.encode()))


def nested_metadata(depth: int) -> dict:
    """Metadata ``depth`` objects deep: ``{"a": {"a": ... "bottom"}}``."""
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value
