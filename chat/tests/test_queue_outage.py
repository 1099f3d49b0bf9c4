"""Writes while the task queue's Redis is stopped: each committed write is acknowledged
(201/202/200), never a 500 a client retries and duplicates; its work is left, with the reason,
where the sweep looks; the log says so once."""

import logging
import uuid

import pytest
from django.utils import timezone

from chat.tests.conftest import MODEL
from chat.tests.factories import ThreadFactory
from config.celery import sending_to
from core import tasks
from memories.models import EmbeddingStatus, ExtractionJob, JobStatus, Memory, Source
from memories.selectors import extraction_jobs_stale, memories_pending_stale
from testing.fake_openai import Reply
from testing.redis_server import redis_server

pytestmark = pytest.mark.django_db(transaction=True)
MEMORIES = "/api/v1/memories"


@pytest.fixture
def redis_stopped(tmp_path, settings, monkeypatch):
    """A real Redis that was started and then stopped: the broker and the cache point at it."""
    with redis_server(tmp_path) as server:
        url = server.url
        server.kill()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    monkeypatch.setattr(tasks, "_broker", tasks._BrokerState())  # no outage from another test
    with sending_to(url, queue=f"engram-test-{uuid.uuid4().hex[:12]}"):
        yield url


def test_writes_during_a_redis_outage_are_acknowledged_and_left_for_the_sweep(
    redis_stopped, auth_client, user, llm_upstream, caplog
):
    caplog.set_level(logging.WARNING, logger="core.tasks")
    thread = ThreadFactory(user=user, title="Outage")
    llm_upstream.script(Reply(text="Lisbon it is."))

    created = auth_client.post(MEMORIES, {"content": "Saved while Redis is down."})
    bulk = auth_client.post(
        f"{MEMORIES}/bulk", {"memories": [{"content": "One"}, {"content": "Two"}]}, format="json"
    )
    extract = auth_client.post(
        f"{MEMORIES}/extract",
        {"messages": [{"role": "user", "content": "I moved to Lisbon."}]},
        format="json",
    )
    turn = auth_client.post(
        f"/api/v1/threads/{thread.pk}/models/{MODEL}/messages", {"content": "Where do I live?"}
    )

    assert (created.status_code, bulk.status_code, extract.status_code) == (201, 201, 202)
    assert turn.status_code == 200, turn.content
    assert turn.json()["assistant_message"]["content"] == "Lisbon it is."
    saved = Memory.objects.filter(user=user).exclude(source=Source.CHAT)
    assert saved.count() == 3
    for memory in saved:
        assert memory.embedding_status == EmbeddingStatus.PENDING
        assert memory.embedding_error.startswith("Not queued yet: the task queue is unavailable")
    assert set(memories_pending_stale(older_than_seconds=-60)) >= {m.pk for m in saved}
    job = ExtractionJob.objects.get(pk=extract.json()["id"])
    assert job.status == JobStatus.QUEUED and job.error.startswith("Not queued yet")
    later = timezone.now() + timezone.timedelta(seconds=60)
    assert job.pk in extraction_jobs_stale(queued_before=later, running_before=later)
    # The exchange is remembered although its task could not be queued.
    assert Memory.objects.filter(user=user, source=Source.CHAT, thread_id=thread.pk).exists()
    outage = [r for r in caplog.records if "cannot be queued" in r.getMessage()]
    assert len(outage) == 1, [r.getMessage() for r in caplog.records]
