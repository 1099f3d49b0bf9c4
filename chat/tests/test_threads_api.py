"""Threads and per-model message histories through the API."""

import pytest

from accounts.models import Persona
from chat.models import Message, ModelContext, Thread
from chat.tests.factories import MessageFactory, ThreadFactory
from testing.fake_openai import Reply
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db
THREADS = "/api/v1/threads"


def test_create_list_rename_delete(auth_client, user):
    created = auth_client.post(THREADS, {"title": "  Trip planning  "})
    assert created.status_code == 201
    thread_id = created.json()["id"]
    assert created.json()["title"] == "Trip planning"

    renamed = auth_client.patch(f"{THREADS}/{thread_id}", {"title": "Lisbon trip"})
    assert renamed.json()["title"] == "Lisbon trip"
    assert [t["title"] for t in auth_client.get(THREADS).json()["results"]] == ["Lisbon trip"]

    thread = Thread.objects.get(pk=thread_id)
    MessageFactory.create_batch(3, thread=thread)
    deleted = auth_client.delete(f"{THREADS}/{thread_id}")
    assert deleted.json() == {"deleted_thread": thread_id, "deleted_messages": 3}
    assert not Message.objects.exists()
    assert auth_client.get(f"{THREADS}/{thread_id}").status_code == 404


def test_one_thread_counts_its_messages_as_the_list_does(auth_client, user):
    thread = ThreadFactory(user=user)
    MessageFactory.create_batch(4, thread=thread)

    listed = auth_client.get(THREADS).json()["results"][0]["message_count"]
    fetched = auth_client.get(f"{THREADS}/{thread.pk}").json()["message_count"]
    renamed = auth_client.patch(f"{THREADS}/{thread.pk}", {"title": "Renamed"}).json()

    assert listed == fetched == renamed["message_count"] == 4


def test_threads_page_with_a_cursor_in_a_fixed_number_of_queries(
    auth_client, user, django_assert_max_num_queries
):
    for thread in ThreadFactory.create_batch(25, user=user):
        MessageFactory.create_batch(2, thread=thread)

    with django_assert_max_num_queries(6):
        first = auth_client.get(THREADS, {"limit": 10, "order_by": "created_at"}).json()
    seen = [t["id"] for t in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        page = auth_client.get(THREADS, {"limit": 10, "order_by": "created_at", "cursor": cursor})
        seen += [t["id"] for t in page.json()["results"]]
        cursor = page.json()["next_cursor"]

    assert len(seen) == len(set(seen)) == 25
    assert first["results"][0]["message_count"] == 2


def test_q_searches_titles_and_summaries(auth_client, user):
    ThreadFactory(user=user, title="Kubernetes upgrade")
    summarized = ThreadFactory(user=user, title="Untitled")
    ModelContext.objects.create(
        thread=summarized, model_id="gpt-4o-mini", summary="We compared Postgres backups."
    )
    ThreadFactory(user=user, title="Groceries")

    by_title = auth_client.get(THREADS, {"q": "kubernetes"}).json()["results"]
    by_summary = auth_client.get(THREADS, {"q": "postgres"}).json()["results"]

    assert [t["title"] for t in by_title] == ["Kubernetes upgrade"]
    assert [t["title"] for t in by_summary] == ["Untitled"]


def test_messages_are_kept_per_model(auth_client, user):
    thread = ThreadFactory(user=user)
    MessageFactory.create_batch(2, thread=thread, model_id="gpt-4o-mini")
    MessageFactory(thread=thread, model_id="meta-llama/llama-3.1-8b")

    url = f"{THREADS}/{thread.pk}/models"
    mini = auth_client.get(f"{url}/gpt-4o-mini/messages").json()["results"]
    llama = auth_client.get(f"{url}/meta-llama/llama-3.1-8b/messages").json()["results"]

    assert len(mini) == 2 and len(llama) == 1
    assert llama[0]["model_id"] == "meta-llama/llama-3.1-8b"


def test_message_order_asc_and_desc(auth_client, user):
    thread = ThreadFactory(user=user)
    messages = MessageFactory.create_batch(3, thread=thread)
    url = f"{THREADS}/{thread.pk}/models/gpt-4o-mini/messages"

    ascending = [m["id"] for m in auth_client.get(url).json()["results"]]
    descending = [m["id"] for m in auth_client.get(url, {"order": "desc"}).json()["results"]]

    assert ascending == [str(m.pk) for m in messages]
    assert descending == ascending[::-1]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"cursor": "!!not-a-cursor!!"}, {"order_by": "title"}],
)
def test_bad_list_parameters_are_400(auth_client, params):
    response = auth_client.get(THREADS, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_another_users_thread_is_404_everywhere(auth_client, other_client, user):
    thread = ThreadFactory(user=user)
    MessageFactory(thread=thread)
    url = f"{THREADS}/{thread.pk}"

    assert_invisible_to(
        other_client,
        [
            ("GET", url),
            ("PATCH", url),
            ("DELETE", url),
            ("GET", f"{url}/models/gpt-4o-mini/messages"),
        ],
    )
    assert Thread.objects.filter(pk=thread.pk).exists()


def test_a_thread_speaks_as_its_persona(auth_client, user, other_user, llm_upstream):
    mine = Persona.objects.create(
        user=user, name="Coach", system_prompt="Be a running coach.", temperature=0.3
    )
    theirs = Persona.objects.create(user=other_user, name="Coach", system_prompt="Secret.")
    created = auth_client.post(
        THREADS, {"title": "Runs", "persona_id": str(mine.pk)}, format="json"
    )
    thread_id = created.json()["id"]
    refused = auth_client.patch(
        f"{THREADS}/{thread_id}", {"persona_id": str(theirs.pk)}, format="json"
    )
    llm_upstream.script(Reply(text="Run slower."))

    auth_client.post(f"{THREADS}/{thread_id}/models/gpt-4o-mini/messages", {"content": "Pace?"})
    cleared = auth_client.patch(f"{THREADS}/{thread_id}", {"persona_id": None}, format="json")

    assert created.status_code == 201 and created.json()["persona_id"] == str(mine.pk)
    assert refused.status_code == 404
    sent = llm_upstream.chat_requests[0].json
    assert sent["messages"][0]["content"].startswith("Be a running coach.")
    assert sent["temperature"] == 0.3
    assert cleared.json()["persona_id"] is None and cleared.json()["title"] == "Runs"
