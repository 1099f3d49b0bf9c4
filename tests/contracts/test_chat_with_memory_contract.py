"""The chat-with-memory design (003, TiMemory): a session started with its first message in one
call (JSON, or SSE with `session_created` first), a session's detail with its messages, and PUT
on a session. Engram's sessions are threads, at Engram's paths (docs/contracts.md)."""

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from chat.models import Message, Thread
from chat.tests.factories import MessageFactory, ThreadFactory
from config.asgi import application
from testing.asgi import AsgiHttpClient, parse_sse
from testing.fake_openai import Reply

THREADS = "/api/v1/threads"
START = f"{THREADS}/new/models/gpt-4o-mini/messages"


@pytest.mark.django_db
def test_one_call_starts_a_session_with_its_first_message(auth_client, user, llm_upstream):
    llm_upstream.script(Reply(text="Hello! How can I help?"))

    started = auth_client.post(START, {"content": "Hello!", "title": "Greetings"})

    assert started.status_code == 201
    body = started.json()
    thread = Thread.objects.get(pk=body["thread"]["id"], user=user)
    assert body["thread"]["title"] == thread.title == "Greetings"
    assert body["thread"]["message_count"] == 2
    assert body["user_message"]["content"] == "Hello!"
    assert body["assistant_message"]["content"] == "Hello! How can I help?"
    assert body["assistant_message"]["thread_id"] == str(thread.pk)


@pytest.mark.django_db
def test_nothing_is_created_when_the_first_message_cannot_be_sent(auth_client, user, llm_upstream):
    unknown = auth_client.post(f"{THREADS}/new/models/no-such-model/messages", {"content": "Hi"})
    empty = auth_client.post(START, {})

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not Thread.objects.filter(user=user).exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_streamed_start_says_session_created_first(user, llm_upstream):
    llm_upstream.script(Reply(tokens=["Once", " upon a time"]))
    token = (await sync_to_async(tokens_issue)(user=user)).access

    exchange = await AsgiHttpClient(application).open(
        "POST",
        START,
        body={"content": "Tell me a story"},
        headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
    )
    events = parse_sse(await exchange.body())

    assert exchange.status == 201
    names = [name for name, _ in events]
    assert names[:2] == ["session_created", "message_start"]
    assert names[-2:] == ["message_complete", "close"]
    created = events[0][1]
    assert created["model"] == "gpt-4o-mini" and created["timestamp"]
    assert events[1][1]["thread_id"] == created["thread_id"]
    thread = await Thread.objects.aget(pk=created["thread_id"], user=user)
    assert await Message.objects.filter(thread=thread).acount() == 2
    assert events[-2][1]["content"] == "Once upon a time"


@pytest.mark.django_db
def test_a_sessions_detail_has_its_messages_oldest_first(auth_client, user, other_client):
    thread = ThreadFactory(user=user)
    first = MessageFactory(thread=thread, model_id="gpt-4o-mini", content="Tell me a story")
    second = MessageFactory(
        thread=thread, model_id="gpt-4o-mini", role=Message.Role.ASSISTANT, content="Once…"
    )

    detail = auth_client.get(f"{THREADS}/{thread.pk}").json()

    assert [m["id"] for m in detail["messages"]] == [str(first.pk), str(second.pk)]
    assert detail["messages"][1] == {
        "id": str(second.pk),
        "model_id": "gpt-4o-mini",
        "role": "assistant",
        "status": second.status,
        "content": "Once…",
        "created_at": detail["messages"][1]["created_at"],
    }
    assert detail["has_more_messages"] is False
    assert other_client.get(f"{THREADS}/{thread.pk}").status_code == 404


@pytest.mark.django_db
def test_a_long_sessions_detail_has_its_newest_messages(auth_client, user, monkeypatch):
    monkeypatch.setattr("chat.api.threads.DETAIL_MESSAGES", 2)
    thread = ThreadFactory(user=user)
    made = [MessageFactory(thread=thread, content=f"m{i}") for i in range(3)]

    detail = auth_client.get(f"{THREADS}/{thread.pk}").json()

    assert [m["content"] for m in detail["messages"]] == [m.content for m in made[1:]]
    assert detail["has_more_messages"] is True


@pytest.mark.django_db
def test_put_on_a_session_sets_all_of_it(auth_client, other_client, user):
    thread = ThreadFactory(user=user, title="Story Discussion")

    put = auth_client.put(
        f"{THREADS}/{thread.pk}", {"title": "My Favorite Story Session", "persona_id": None}
    )
    partial = auth_client.put(f"{THREADS}/{thread.pk}", {"title": "Only a title"})
    strangers = other_client.put(f"{THREADS}/{thread.pk}", {"title": "Mine", "persona_id": None})

    assert put.status_code == 200
    assert put.json()["title"] == "My Favorite Story Session" and put.json()["persona_id"] is None
    assert partial.status_code == 400 and "persona_id" in partial.json()["error"]["details"]
    assert strangers.status_code == 404
    thread.refresh_from_db()
    assert thread.title == "My Favorite Story Session"


# --- The memory profile, written by the user's model --------------------------------------------

SUMMARY = "/api/v1/memories/summary"
PROFILE = "Lives in Porto since May. Prefers window seats. Learning Rust."
FACTS = ("I moved to Porto in May.", "I prefer window seats.", "I am learning Rust.")


def profile_requests(upstream) -> list:
    return [r for r in upstream.chat_requests if "short profile" in str(r.json["messages"][0])]


@pytest.fixture
def profile_model(settings, llm_upstream):
    settings.MEMORY_SUMMARY_MODEL = "gpt-4o-mini"
    settings.MEMORY_SUMMARY_MIN_MEMORIES = 3
    settings.MEMORY_SUMMARY_REWRITE_CHANGES = 2
    return llm_upstream


def save(auth_client, committing, content: str) -> dict:
    return committing(lambda: auth_client.post("/api/v1/memories", {"content": content})).json()


@pytest.mark.django_db
def test_the_profile_is_written_by_the_users_model_from_their_memories(
    auth_client, committing, profile_model
):
    profile_model.script(Reply(text=PROFILE))

    for fact in FACTS:
        save(auth_client, committing, fact)
    summary = auth_client.get(SUMMARY).json()

    assert summary["text"] == PROFILE and summary["generator"] == "model"
    assert summary["model"] == "gpt-4o-mini" and summary["written_at"]
    assert "3 memories" in summary["extractive_text"]  # still there, still current
    (asked,) = profile_requests(profile_model)
    notes = asked.json["messages"][-1]["content"]
    assert all(fact in notes for fact in FACTS)  # sourced from the memories, and only them


@pytest.mark.django_db
def test_it_is_written_again_only_after_enough_changes(auth_client, committing, profile_model):
    for fact in FACTS:
        save(auth_client, committing, fact)
    assert len(profile_requests(profile_model)) == 1

    save(auth_client, committing, "My sister lives in Lyon.")  # one change: not enough
    assert len(profile_requests(profile_model)) == 1
    profile_model.script(Reply(text="A newer profile."))
    save(auth_client, committing, "I play the cello.")  # the second: written again

    assert len(profile_requests(profile_model)) == 2
    assert auth_client.get(SUMMARY).json()["text"] == "A newer profile."


@pytest.mark.django_db
def test_deleting_a_memory_it_was_written_from_drops_it(auth_client, committing, profile_model):
    profile_model.script(Reply(text=PROFILE))
    saved = [save(auth_client, committing, fact) for fact in FACTS]

    committing(lambda: auth_client.delete(f"/api/v1/memories/{saved[0]['id']}"))
    summary = auth_client.get(SUMMARY).json()

    # Two memories left: too few to write from, and the old text may say what was deleted.
    assert summary["generator"] == "extractive" and summary["model"] == ""
    assert "Porto" not in summary["text"]


@pytest.mark.django_db
def test_without_a_model_the_profile_is_extractive(auth_client, committing, settings):
    settings.MEMORY_SUMMARY_MODEL = "gpt-4o-mini"  # no key for it: neither the user's nor ours
    for fact in FACTS:
        save(auth_client, committing, fact)

    summary = auth_client.get(SUMMARY).json()

    assert summary["generator"] == "extractive" and summary["text"] == summary["extractive_text"]
    assert summary["model"] == "" and summary["written_at"] is None
    assert "3 memories" in summary["text"]


@pytest.mark.django_db
def test_a_provider_failure_keeps_the_extractive_profile(auth_client, committing, profile_model):
    profile_model.script(Reply.server_error(503), Reply.server_error(503), Reply.server_error(503))

    for fact in FACTS:
        save(auth_client, committing, fact)
    summary = auth_client.get(SUMMARY).json()

    assert summary["generator"] == "extractive" and summary["written_at"] is None
