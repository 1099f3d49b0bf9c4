"""The official mem0ai package (MemoryClient, AsyncMemoryClient), unchanged, against a live Engram
at /mem0: every call lands in the API key owner's memories, through Engram's services."""

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from mem0 import AsyncMemoryClient, MemoryClient
from mem0.exceptions import AuthenticationError, MemoryNotFoundError, ValidationError

from memories.models import Memory, MemoryHistory
from testing.fake_openai import Reply
from testing.live import live_server

pytestmark = pytest.mark.django_db(transaction=True)


def facts(*texts: str) -> Reply:
    return Reply(text=json.dumps({"facts": list(texts)}))


def decisions(*operations: dict) -> Reply:
    return Reply(text=json.dumps({"operations": list(operations)}))


@pytest.fixture
def client(engram, user, key_for) -> MemoryClient:
    return MemoryClient(api_key=key_for(user), host=f"{engram}/mem0")


def store(client: MemoryClient, text: str, **entities) -> str:
    """Add ``text`` as it is (infer off); the new memory's id."""
    answer = client.add([{"role": "user", "content": text}], infer=False, **entities)
    assert answer["status"] == "SUCCEEDED"
    return answer["results"][0]["id"]


def test_the_client_connects_with_an_engram_key_and_refuses_a_wrong_one(engram, user, client):
    assert client.user_email == user.email

    with pytest.raises(ValueError):
        MemoryClient(api_key="egm_not-a-key", host=f"{engram}/mem0")


def test_add_without_inference_stores_each_message_in_the_users_namespace(client, user):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "I prefer window seats."},
        {"role": "assistant", "content": "Noted: window seats."},
    ]
    answer = client.add(messages, user_id="alice", infer=False, metadata={"src": "app"})

    assert answer["status"] == "SUCCEEDED"
    assert [item["memory"] for item in answer["results"]] == [
        "I prefer window seats.",
        "Noted: window seats.",
    ]
    stored = Memory.objects.get(pk=answer["results"][0]["id"])
    assert stored.user == user
    assert stored.metadata == {"src": "app", "mem0_user_id": "alice"}
    got = client.get(answer["results"][0]["id"])
    assert got["memory"] == "I prefer window seats."
    assert got["user_id"] == "alice" and got["agent_id"] is None
    assert got["metadata"] == {"src": "app"}


def settled(engram: str, client: MemoryClient, answer: dict) -> dict:
    """An add with inference as mem0's platform answers it once its event is done (the job
    runs off the request path, so the add's own answer may still say PENDING)."""
    url = f"{engram}/mem0/v1/event/{answer['event_id']}/"
    for _ in range(200):
        if answer["status"] not in {"PENDING", "RUNNING"}:
            return answer
        time.sleep(0.05)
        answer = httpx.get(url, headers={"Authorization": f"Token {client.api_key}"}).json()
    raise AssertionError(f"the event never settled: {answer}")


def test_add_with_inference_runs_extraction_in_the_users_scope_only(engram, client, fake_openai):
    fake_openai.script(facts("Alice lives in Lisbon"))
    first = settled(engram, client, client.add("I live in Lisbon.", user_id="alice"))

    assert first["status"] == "SUCCEEDED"
    [(event, lisbon)] = [(item["event"], item["id"]) for item in first["results"]]
    assert event == "ADD"

    # Bob's facts are compared with Bob's memories only: no decision call, Alice's untouched.
    fake_openai.script(facts("Bob lives in Lisbon"))
    bob = settled(engram, client, client.add("I live in Lisbon too.", user_id="bob"))
    assert [item["event"] for item in bob["results"]] == ["ADD"]
    assert len(fake_openai.chat_requests) == 2

    fake_openai.script(
        facts("Alice moved to Porto"),
        decisions({"fact": 0, "event": "UPDATE", "memory_id": "0", "text": "Alice lives in Porto"}),
    )
    added = client.add("I moved to Porto.", user_id="alice")
    moved = settled(engram, client, added)
    shown = fake_openai.chat_requests[-1].json["messages"][-1]["content"]
    assert "Bob" not in shown

    assert [(item["event"], item["id"]) for item in moved["results"]] == [("UPDATE", lisbon)]
    assert client.get(lisbon)["memory"] == "Alice lives in Porto"
    history = client.history(lisbon)
    assert [(entry["event"], entry["new_memory"]) for entry in history] == [
        ("ADD", "Alice lives in Lisbon"),
        ("UPDATE", "Alice lives in Porto"),
    ]
    assert history[0]["user_id"] == "alice"
    event = httpx.get(
        f"{engram}/mem0/v1/event/{added['event_id']}/",
        headers={"Authorization": f"Token {client.api_key}"},
    ).json()
    assert event["status"] == "SUCCEEDED" and event["results"] == moved["results"]


def test_add_with_inference_against_the_unscripted_fake_upstream_finds_nothing(
    engram, client, fake_openai
):
    # given the fake upstream as `python -m testing.fake_openai` serves it: nothing scripted
    answer = settled(engram, client, client.add("I like tea", user_id="alice"))

    assert (answer["status"], answer["results"]) == ("SUCCEEDED", [])
    assert client.get_all(filters={"user_id": "alice"})["count"] == 0


@pytest.fixture
def client_without_llm(user, key_for, tmp_path) -> Iterator[MemoryClient]:
    """A client of a live server with no language model: a self-hoster's first hour."""
    env = {"OPENAI_API_KEY": "", "EMBEDDING_BACKEND": "hashing", "LOG_LEVEL": "WARNING"}
    with live_server(env, tmp_path / "server.log") as server:
        yield MemoryClient(api_key=key_for(user), host=f"{server.url}/mem0")


def test_add_without_a_language_model_stores_the_messages_and_says_so(client_without_llm, user):
    answer = client_without_llm.add(
        [{"role": "user", "content": "I like tea"}, {"role": "assistant", "content": "Noted."}],
        user_id="alice",
    )

    assert answer["status"] == "SUCCEEDED" and answer["event_id"] is None
    assert answer["inferred"] is False and "language model" in answer["reason"]
    assert [(item["event"], item["memory"]) for item in answer["results"]] == [
        ("ADD", "I like tea"),
        ("ADD", "Noted."),
    ]
    assert not user.extraction_jobs.exists()
    found = client_without_llm.search("tea", filters={"user_id": "alice"})["results"]
    assert found[0]["memory"] == "I like tea"


def test_search_filters_by_entities_with_and_or(client):
    store(client, "Alice's dog is called Rex", user_id="alice", agent_id="pets")
    store(client, "Alice's cat is called Tom", user_id="alice", agent_id="home")
    store(client, "Bob's dog is called Max", user_id="bob", agent_id="pets")

    def found(**options) -> list[str]:
        return sorted(hit["memory"] for hit in client.search("dog called", **options)["results"])

    assert found(filters={"user_id": "alice"}) == [
        "Alice's cat is called Tom",
        "Alice's dog is called Rex",
    ]
    assert found(filters={"AND": [{"user_id": "alice"}, {"agent_id": "pets"}]}) == [
        "Alice's dog is called Rex"
    ]
    assert found(filters={"OR": [{"user_id": "bob"}, {"agent_id": "home"}]}) == [
        "Alice's cat is called Tom",
        "Bob's dog is called Max",
    ]
    hits = client.search("dog called Rex", filters={"user_id": "alice"}, top_k=1)["results"]
    assert [hit["memory"] for hit in hits] == ["Alice's dog is called Rex"]
    assert 0 < hits[0]["score"] <= 1
    assert client.search("dog", filters={"user_id": "alice"}, threshold=0.99)["results"] == []
    with pytest.raises(ValidationError):
        client.search("dog", filters={"categories": {"in": ["pets"]}})


def test_get_all_pages_through_one_users_memories(client):
    for number in range(3):
        store(client, f"Alice note {number}", user_id="alice")
    store(client, "Bob note", user_id="bob")

    first = client.get_all(filters={"user_id": "alice"}, page=1, page_size=2)
    second = client.get_all(filters={"user_id": "alice"}, page=2, page_size=2)

    assert first["count"] == 3 and first["previous"] is None and first["next"]
    assert [m["memory"] for m in first["results"] + second["results"]] == [
        "Alice note 2",
        "Alice note 1",
        "Alice note 0",
    ]
    assert second["next"] is None


def test_update_delete_and_history_through_the_services(client, user):
    memory_id = store(client, "Favourite colour: blue", user_id="alice")

    updated = client.update(memory_id, text="Favourite colour: green", metadata={"v": 2})
    assert updated["memory"] == "Favourite colour: green" and updated["user_id"] == "alice"
    assert client.delete(memory_id)["message"]

    with pytest.raises(MemoryNotFoundError):
        client.get(memory_id)
    events = [entry["event"] for entry in client.history(memory_id)]
    assert events == ["ADD", "UPDATE", "DELETE"]
    assert MemoryHistory.objects.filter(memory_id=memory_id, user=user).count() == 3


def test_delete_all_for_one_user_id_leaves_the_others(client):
    store(client, "Alice one", user_id="alice")
    store(client, "Alice two", user_id="alice", run_id="r1")
    kept = store(client, "Bob one", user_id="bob")

    with pytest.raises(ValidationError):  # no entity: refused, nothing deleted
        client.delete_all()
    assert client.delete_all(user_id="alice")["message"]

    assert client.get_all(filters={"user_id": "alice"})["count"] == 0
    assert [m["id"] for m in client.get_all(filters={"user_id": "bob"})["results"]] == [kept]
    entities = {(e["type"], e["name"]): e["total_memories"] for e in client.users()["results"]}
    assert entities == {("user", "bob"): 1}


def test_another_users_memory_is_not_found(client, other_user, key_for, engram):
    stranger = MemoryClient(api_key=key_for(other_user), host=f"{engram}/mem0")
    theirs = store(stranger, "Not yours", user_id="alice")

    with pytest.raises(MemoryNotFoundError):
        client.get(theirs)
    with pytest.raises(MemoryNotFoundError):
        client.update(theirs, text="Mine now")
    with pytest.raises(MemoryNotFoundError):
        client.batch_delete([{"memory_id": theirs}])
    assert client.get_all(filters={"user_id": "alice"})["count"] == 0
    assert stranger.get(theirs)["memory"] == "Not yours"


def test_batch_update_and_delete_are_all_or_nothing(client):
    first = store(client, "One", user_id="alice")
    second = store(client, "Two", user_id="alice")

    answer = client.batch_update(
        [{"memory_id": first, "text": "One!"}, {"memory_id": second, "text": "Two!"}]
    )
    assert "2" in answer["message"]
    assert client.get(first)["memory"] == "One!"

    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(MemoryNotFoundError):
        client.batch_update([{"memory_id": first, "text": "Lost"}, {"memory_id": missing}])
    assert client.get(first)["memory"] == "One!"

    # One memory named twice: refused, not counted as two updated.
    with pytest.raises(ValidationError):
        client.batch_update(
            [{"memory_id": first, "text": "x1"}, {"memory_id": first, "text": "x2"}]
        )
    with pytest.raises(ValidationError):
        client.batch_delete([{"memory_id": first}, {"memory_id": first.upper()}])
    assert client.get(first)["memory"] == "One!"

    client.batch_delete([{"memory_id": first}, {"memory_id": second}])
    assert client.get_all(filters={"user_id": "alice"})["count"] == 0


def test_the_async_client_works_the_same(engram, user, key_for):
    secret = key_for(user)

    async def scenario() -> tuple[dict, dict]:
        client = AsyncMemoryClient(api_key=secret, host=f"{engram}/mem0")
        added = await client.add("Async note", user_id="carol", infer=False)
        found = await client.search("async note", filters={"user_id": "carol"})
        await client.async_client.aclose()
        return added, found

    added, found = asyncio.run(scenario())

    assert [hit["id"] for hit in found["results"]] == [added["results"][0]["id"]]


def test_a_read_only_key_cannot_write(engram, user, key_for):
    reader = MemoryClient(api_key=key_for(user, ["memories:read"]), host=f"{engram}/mem0")

    assert reader.get_all(filters={"user_id": "alice"})["count"] == 0
    with pytest.raises(AuthenticationError) as refused:
        reader.add("Nope", user_id="alice", infer=False)
    assert "memories:write" in str(refused.value)
