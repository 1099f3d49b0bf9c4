"""Without a broker, a memory is embedded on the web process's background threads after its save
answers: a search by meaning sent at once (a script, mem0's SDK: add, then search) waits for it
and finds it (memories/unembedded.py); with nothing of theirs in flight, no search waits."""

import threading

import pytest
from django.conf import settings as django_settings

from config.celery import in_process_tasks

pytestmark = pytest.mark.django_db(transaction=True)
SEARCH = "/api/v1/memories/search"


@pytest.fixture
def threads_busy(settings):
    """Tasks run in the background, and every background thread is busy (as under another
    user's import) until the test frees them: the next embedding waits its turn."""
    settings.TASKS_IN_BACKGROUND = True
    free = threading.Event()
    for _ in range(django_settings.TASKS_IN_PROCESS_THREADS):
        in_process_tasks.submit(lambda: free.wait(timeout=30))
    yield free
    free.set()
    assert in_process_tasks.drain(timeout=60)


def search(client, query: str) -> list[str]:
    answer = client.post(SEARCH, {"query": query, "mode": "semantic"}, format="json")
    assert answer.status_code == 200, answer.content
    return [hit["content"] for hit in answer.json()["results"]]


def test_a_memory_saved_a_moment_ago_is_found_by_meaning(auth_client, threads_busy):
    saved = auth_client.post(
        "/api/v1/memories", {"content": "I moved to Porto in May."}, format="json"
    )
    assert saved.status_code == 201 and saved.json()["embedding_status"] == "pending"
    threading.Timer(0.3, threads_busy.set).start()  # its turn comes while the search waits

    assert search(auth_client, "Porto in May") == ["I moved to Porto in May."]


def test_the_wait_is_bounded(auth_client, threads_busy, settings):
    settings.MEMORY_SEARCH_WAITS_FOR_WRITES_SECONDS = 0.05
    auth_client.post("/api/v1/memories", {"content": "I moved to Porto in May."}, format="json")

    assert search(auth_client, "Porto in May") == []  # still waiting its turn: not found yet


def test_another_users_writes_hold_no_search_up(auth_client, other_client, threads_busy, settings):
    settings.MEMORY_SEARCH_WAITS_FOR_WRITES_SECONDS = 60
    other_client.post("/api/v1/memories", {"content": "Bob's note on Porto."}, format="json")
    answers = []
    searching = threading.Thread(target=lambda: answers.append(search(auth_client, "Porto")))

    searching.start()
    searching.join(timeout=20)  # far from the 60 s a wait for the other's memory would take

    assert answers == [[]]
