"""Tool calling through the gateway (OpenAI tools protocol): tools go out with the request, the
model's calls come back whole, from plain and streamed answers."""

import pytest

from providers.llm.gateway import LLMGateway
from providers.llm.tool_calls import ToolCallAssembler, tool_calls_of
from providers.llm.types import LLMCredentials, ToolCall
from testing.fake_openai import Reply
from testing.fixtures import SERVER_KEY

pytestmark = pytest.mark.asyncio

MESSAGES = [{"role": "user", "content": "What is due today?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "list_tasks_due_today",
            "description": "Tasks due today.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]


@pytest.fixture
def credentials(llm_upstream) -> LLMCredentials:
    return LLMCredentials(provider="openai", base_url=llm_upstream.base_url, api_key=SERVER_KEY)


async def test_tools_and_tool_choice_are_sent_and_calls_come_back(
    llm_gateway: LLMGateway, credentials, fake_openai
):
    fake_openai.script(Reply.tool_call("list_tasks_due_today", {"limit": 3}))

    completion = await llm_gateway.complete(
        credentials=credentials,
        model="gpt-4o-mini",
        messages=MESSAGES,
        tools=TOOLS,
        tool_choice="auto",
    )

    sent = fake_openai.last_request.json
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
    assert completion.finish_reason == "tool_calls" and completion.text == ""
    assert completion.tool_calls == (
        ToolCall(id="call_0", name="list_tasks_due_today", arguments='{"limit": 3}'),
    )


async def test_without_tools_the_request_carries_none(llm_gateway, credentials, fake_openai):
    completion = await llm_gateway.complete(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES
    )

    assert "tools" not in fake_openai.last_request.json
    assert "tool_choice" not in fake_openai.last_request.json
    assert completion.tool_calls == ()


async def test_a_streamed_answer_assembles_its_tool_calls_on_the_final_chunk(
    llm_gateway, credentials, fake_openai
):
    fake_openai.script(
        Reply(
            text="Let me look.",
            tool_calls=[
                {"name": "list_tasks", "arguments": {"status": "todo"}},
                {"name": "get_note", "arguments": {"note_id": "n-1"}, "id": "call_x"},
            ],
        )
    )

    async with llm_gateway.stream(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS
    ) as chunks:
        received = [chunk async for chunk in chunks]

    assert "".join(c.delta for c in received) == "Let me look."
    final = received[-1]
    assert final.final and final.finish_reason == "tool_calls"
    assert final.tool_calls == (
        ToolCall(id="call_0", name="list_tasks", arguments='{"status": "todo"}'),
        ToolCall(id="call_x", name="get_note", arguments='{"note_id": "n-1"}'),
    )
    assert fake_openai.last_request.json["tools"] == TOOLS


async def test_malformed_arguments_are_passed_on_as_written(llm_gateway, credentials, fake_openai):
    fake_openai.script(Reply.tool_call("list_tasks", '{"status": '))

    completion = await llm_gateway.complete(
        credentials=credentials, model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS
    )

    assert completion.tool_calls[0].arguments == '{"status": '


async def test_unreadable_call_parts_are_skipped_not_fatal():
    assembler = ToolCallAssembler()
    assembler.add([{"index": 0, "id": "a", "function": {"name": "x", "arguments": "{}"}}, "junk"])
    assembler.add("not a list")

    assert assembler.calls() == (ToolCall(id="a", name="x", arguments="{}"),)
    assert tool_calls_of({"tool_calls": [{"function": None}, 3]}) == ()
    assert tool_calls_of({"tool_calls": [{"function": {"name": "y", "arguments": {"a": 1}}}]}) == (
        ToolCall(id="call_0", name="y", arguments='{"a": 1}'),
    )
