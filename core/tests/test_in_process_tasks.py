"""Without Redis, tasks run on a background thread of the web process: saving never waits for
the model (docs/memories-and-search.md), and the tasks still all run."""

import threading

import pytest

from config.celery import in_process_tasks
from memories import services
from memories.models import EmbeddingStatus, Memory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_bulk_of_200_answers_before_anything_is_embedded(auth_client, user, settings,
                                                           monkeypatch):  # fmt: skip
    settings.TASKS_IN_BACKGROUND = True
    settings.MEMORY_DEDUP_THRESHOLD = 1.1  # what is counted here is embedding, not merging
    model_may_run = threading.Event()
    embed = services.memories_embed

    def slow_model(**kwargs):
        # Inline (in the request) this would hold the answer until the wait gives up.
        model_may_run.wait(timeout=10)
        return embed(**kwargs)

    monkeypatch.setattr(services, "memories_embed", slow_model)
    notes = [{"content": f"Bulk note {n}: chess opening number {n} studied."} for n in range(200)]

    response = auth_client.post("/api/v1/memories/bulk", {"memories": notes}, format="json")
    statuses_when_answered = set(Memory.objects.filter(user=user).values_list(
        "embedding_status", flat=True))  # fmt: skip
    model_may_run.set()
    assert in_process_tasks.drain(timeout=60)

    assert response.status_code == 201 and response.json()["created"] == 200
    assert statuses_when_answered == {EmbeddingStatus.PENDING}
    embedded = Memory.objects.filter(user=user, embedding_status=EmbeddingStatus.READY)
    assert embedded.count() == 200
