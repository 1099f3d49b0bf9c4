"""Concurrent writes to one memory over real, separate database connections (one per thread):
a request whose memory is deleted under it answers 404, and no pair of writes deadlocks."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from memories import services
from memories.models import Memory, MemoryChunk
from memories.services import MemoryDraft

pytestmark = pytest.mark.django_db(transaction=True)
MEMORIES = "/api/v1/memories"
ROUNDS = 15


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    settings.RATELIMIT_ENABLE = False  # dozens of requests a minute, from one user


def _client(user) -> APIClient:
    # A 500 comes back as a response to count, not as an exception in the thread.
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def _on_own_connection(call: Callable[[], int]) -> Callable[[], int]:
    def run() -> int:
        try:
            return call()
        finally:
            connections.close_all()  # this thread's connection goes back to the pool

    return run


def _embedded(user, **fields) -> Memory:
    memory, _ = services.memory_create(user=user, draft=MemoryDraft(**fields))
    services.memories_embed(memory_ids=[memory.pk])
    assert MemoryChunk.objects.filter(memory=memory).exists()
    return memory


def _a_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


WRITES = {
    "patch": lambda client, pk: client.patch(
        f"{MEMORIES}/{pk}", {"content": "Changed meanwhile."}, format="json"
    ),
    "response": lambda client, pk: client.post(
        f"{MEMORIES}/{pk}/response", {"response": "The answer."}, format="json"
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_that_waits_on_a_delete_answers_404(user, write):
    memory = _embedded(user, prompt="What is the capital of France?")
    client = _client(user)

    with ThreadPoolExecutor(max_workers=1) as pool:
        with transaction.atomic():
            services.memory_delete(memory=memory)  # holds the row until this block commits
            waiting = pool.submit(_on_own_connection(lambda: WRITES[write](client, memory.pk)))
            deadline = time.monotonic() + 30
            while not _a_backend_waits_for_a_lock() and not waiting.done():
                assert time.monotonic() < deadline, "the write never reached the row lock"
                time.sleep(0.01)
        response = waiting.result()

    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert not Memory.objects.filter(pk=memory.pk).exists()


@pytest.mark.parametrize("write", list(WRITES))
def test_writes_racing_a_delete_never_deadlock_or_fail(user, write):
    outcomes = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(ROUNDS):
            memory = _embedded(user, prompt="Which database do I use?")
            writer, deleter = _client(user), _client(user)
            start = threading.Barrier(2)

            def change(client=writer, pk=memory.pk, start=start):
                start.wait()
                return WRITES[write](client, pk).status_code

            def delete(client=deleter, pk=memory.pk, start=start):
                start.wait()
                return client.delete(f"{MEMORIES}/{pk}").status_code

            changed = pool.submit(_on_own_connection(change))
            deleted = pool.submit(_on_own_connection(delete))
            outcomes.append((changed.result(), deleted.result()))

    assert {deleted for _, deleted in outcomes} == {204}
    assert {changed for changed, _ in outcomes} <= {200, 404}, outcomes
    assert not Memory.objects.filter(user=user).exists()
