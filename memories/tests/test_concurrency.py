"""Concurrent writes to one memory over real, separate database connections (one per thread):
no PATCH or /response racing a DELETE deadlocks or fails (each is 200 or 404, the delete 204),
and a write whose memory was deleted after it was read is a 404, not a 500."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from billing.tiers import limits_for
from core.db import copy_insert
from core.errors import NotFound
from memories import services
from memories.models import Memory, MemoryChunk, MemoryHistory
from memories.services import BULK_MAX_ITEMS, MemoryDraft
from memories.tests.factories import MemoryFactory

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


WRITES = {
    "patch": lambda client, pk: client.patch(
        f"{MEMORIES}/{pk}", {"content": "Changed meanwhile."}, format="json"
    ),
    "response": lambda client, pk: client.post(
        f"{MEMORIES}/{pk}/response", {"response": "The answer."}, format="json"
    ),
}


def test_a_write_whose_memory_was_deleted_after_it_was_read_is_not_found(user):
    # What a request that read the memory before a concurrent DELETE committed holds.
    memory = _embedded(user, prompt="What is the capital of France?")
    Memory.objects.filter(pk=memory.pk).delete()

    with pytest.raises(NotFound):
        services.memory_update(memory=memory, changes={"content": "Changed meanwhile."})
    with pytest.raises(NotFound):
        services.memory_response_save(memory=memory, response="Paris.")
    with pytest.raises(NotFound):
        services.memory_delete(memory=memory)
    assert not MemoryHistory.objects.filter(memory_id=memory.pk).exclude(event="create").exists()


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


def test_deleting_everything_while_a_memory_is_embedded_does_not_deadlock(user):
    # An embedding run locks its memory's row, then writes (its chunks, its status), which
    # takes the user's search generation. Deleting everything meanwhile (the extension's capture
    # is embedded just after it is saved) must not take the generation first and then wait for
    # that row.
    _embedded(user, content="Already embedded: its chunks go first.")
    new, _ = services.memory_create(user=user, draft=MemoryDraft(content="Just captured."))
    locked = threading.Event()

    def embedding() -> int:
        from django.db import transaction

        with transaction.atomic():
            list(Memory.objects.select_for_update().filter(pk=new.pk))
            locked.set()
            time.sleep(0.5)  # deleting everything starts meanwhile
            return Memory.objects.filter(pk=new.pk).update(embedding_status="ready")

    def delete_all() -> int:
        locked.wait()
        return services.memories_delete_all(user=user)

    with ThreadPoolExecutor(max_workers=2) as pool:
        embedded = pool.submit(_on_own_connection(embedding))
        deleted = pool.submit(_on_own_connection(delete_all))
        assert (embedded.result(), deleted.result()) == (1, 2)
    assert not Memory.objects.filter(user=user).exists()


@pytest.mark.parametrize("size", [BULK_MAX_ITEMS, 1], ids=["bulk", "single"])
def test_concurrent_writes_at_the_quota_never_exceed_it(user, size):
    # Room for exactly two of the six requests; each counts the stored memories, then writes.
    limit = limits_for(user).memories
    copy_insert(Memory, MemoryFactory.build_batch(limit - 2 * size, user=user))
    start = threading.Barrier(6)

    def write(number: int) -> int:
        client = _client(user)
        notes = [{"content": f"Request {number}, note {n}"} for n in range(size)]
        start.wait()
        if size == 1:
            return client.post(MEMORIES, notes[0], format="json").status_code
        return client.post(f"{MEMORIES}/bulk", {"memories": notes}, format="json").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = [pool.submit(_on_own_connection(lambda n=n: write(n))) for n in range(6)]
        statuses = sorted(answer.result() for answer in answers)

    assert statuses == [201, 201, 403, 403, 403, 403]
    assert Memory.objects.filter(user=user).count() == limit


def test_captures_racing_with_one_key_store_one_memory_and_refuse_the_others(user):
    """Twenty captures sent at once with the same Idempotency-Key, each with its own prompt (a
    client's bug): one is stored, with its receipt; the others are told the key was used for
    another capture, and none of their prompts is stored behind the client's back."""
    key = "one-key-for-all"

    def send(i: int) -> tuple[int, dict]:
        response = _client(user).post(
            f"{MEMORIES}/prompts",
            {"prompt": f"racing prompt number {i}", "provider": "chatgpt"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: _on_own_connection(lambda: send(i))(), range(20)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 19
    assert {body["error"]["code"] for status, body in answers if status == 409} == {
        "IDEMPOTENCY_KEY_REUSED"
    }
    stored = [body["id"] for status, body in answers if status == 201]
    assert [str(pk) for pk in Memory.objects.filter(user=user).values_list("id", flat=True)] == (
        stored
    )
