"""Chat's recall sends a provider only memories above the relevance floor
(CHAT_MEMORY_MIN_SCORE): unrelated personal facts stay home, on both chat endpoints."""

import pytest

from memories.services import MemoryDraft, memories_embed, memory_create
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db

UNRELATED = [
    "My sister lives in Berlin with her two kids.",
    "I work night shifts as a nurse at the city hospital.",
    "My favourite band is Radiohead, I saw them live in 2017.",
    "I am learning Spanish with an app every morning.",
]
RELATED = "My cat Miso knocks my coffee mug off the desk every morning."


@pytest.fixture
def memories(user):
    created = []
    for text in [*UNRELATED, RELATED]:
        memory, _ = memory_create(user=user, draft=MemoryDraft(content=text))
        created.append(memory)
    memories_embed(memory_ids=[memory.pk for memory in created])
    return created


def test_a_chat_turn_sends_only_memories_above_the_floor(
    auth_client, memories, messages_url, llm_upstream
):
    llm_upstream.script(Reply(text="Miso again?"), Reply(text="Cat"))

    response = auth_client.post(messages_url, {"content": "What does my cat do to my coffee?"})

    assert response.status_code == 200, response.content
    used = response.json()["assistant_message"]["memories_used"]
    assert [m["id"] for m in used] == [str(memories[-1].pk)]
    system = llm_upstream.chat_requests[0].json["messages"][0]["content"]
    assert "Miso" in system
    assert not any(text in system for text in UNRELATED)


def test_a_question_about_none_of_them_sends_no_memory(
    auth_client, memories, messages_url, llm_upstream
):
    llm_upstream.script(Reply(text="Photosynthesis is..."), Reply(text="Plants"))

    response = auth_client.post(messages_url, {"content": "How does photosynthesis work?"})

    assert response.json()["assistant_message"]["memories_used"] == []
    assert "<memories>" not in llm_upstream.chat_requests[0].json["messages"][0]["content"]


def test_the_openai_compatible_endpoint_applies_the_same_floor(auth_client, memories, llm_upstream):
    llm_upstream.script(Reply(text="Photosynthesis is..."))

    response = auth_client.post(
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "How does photosynthesis work?"}],
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    sent = llm_upstream.chat_requests[0].json["messages"]
    assert not any("<memories>" in message["content"] for message in sent)
