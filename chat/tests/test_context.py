"""Context assembly: within budget, newest first, summary and memories included."""

import pytest

from chat.context import Recalled, Turn, plan_context
from providers.llm.errors import ContextTooLong
from providers.llm.tokens import count_message_tokens

MODEL = "gpt-4o-mini"


def plan(**overrides):
    fields = {
        "model": MODEL,
        "context_length": 4_000,
        "max_output_tokens": 1_000,
        "system_prompt": "Be brief.",
        "summary": "",
        "history": [],
        "memories": [],
        "new_message": "What did we decide?",
    }
    return plan_context(**(fields | overrides))


def long_history(turns: int) -> list[Turn]:
    return [
        Turn("user" if i % 2 == 0 else "assistant", f"turn {i}: " + "words " * 60)
        for i in range(turns)
    ]


def test_a_long_history_is_cut_to_the_budget_keeping_the_newest():
    history = long_history(200)

    result = plan(history=history)

    assert result.prompt_tokens <= 4_000 - result.max_answer_tokens
    assert result.prompt_tokens == count_message_tokens(result.messages, MODEL)
    assert result.history_truncated
    kept = result.messages[1:-1]
    assert kept[-1]["content"] == history[-1].content
    assert len(kept) < len(history)
    assert result.messages[-1] == {"role": "user", "content": "What did we decide?"}


def test_summary_and_memories_are_in_the_system_message():
    memories = [Recalled(id="m1", text="The user prefers Python.", score=0.9, created="2026-01-02")]

    result = plan(summary="We planned a trip to Lisbon.", memories=memories)

    system = result.messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith("Be brief.")
    assert "<memories>" in system["content"] and "The user prefers Python." in system["content"]
    assert "We planned a trip to Lisbon." in system["content"]
    assert [m.id for m in result.memories_used] == ["m1"]
    assert not result.history_truncated


def test_memories_give_way_before_the_message_does():
    memories = [
        Recalled(id=f"m{i}", text="fact " * 200, score=1 - i / 10, created="2026-01-01")
        for i in range(5)
    ]

    result = plan(context_length=1_200, max_output_tokens=200, memories=memories)

    assert result.prompt_tokens <= 1_200 - result.max_answer_tokens
    assert 0 < len(result.memories_used) < 5
    assert result.memories_used[0].id == "m0"  # the most relevant stays


def test_a_message_that_cannot_fit_is_context_too_long():
    with pytest.raises(ContextTooLong) as raised:
        plan(new_message="word " * 5_000)

    assert raised.value.code == "CONTEXT_TOO_LONG"
    assert raised.value.details["limit"] == 3_000


def test_a_summary_too_big_to_fit_gives_way_to_the_message():
    result = plan(summary="old news " * 2_000, new_message="short question")

    assert "<conversation_summary>" not in result.messages[0]["content"]
    assert result.messages[-1]["content"] == "short question"
