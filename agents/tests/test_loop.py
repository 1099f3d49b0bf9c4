"""The tool loop's limits: malformed calls are explained once, then the turn fails cleanly;
at most AGENTS_MAX_ITERATIONS model calls; a failed turn gives no actions."""

import pytest

from agents.models import AgentRun
from agents.tests.conftest import CHAT_URL, tool_messages
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db


def post(client, context, **extra):
    body = {"message": "tidy my tasks", "context": context, "agents": ["tasks"], **extra}
    return client.post(CHAT_URL, body, format="json")


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (Reply.tool_call("list_tasks", '{"status": '), "not valid JSON"),
        (Reply.tool_call("list_tasks", {"status": "someday"}), "do not fit its schema"),
        (Reply.tool_call("drop_database", {}), "no tool named 'drop_database'"),
    ],
)
def test_a_malformed_call_is_explained_to_the_model_once(
    pro_client, context, llm_upstream, call, problem
):
    llm_upstream.script(call, Reply.tool_call("list_tasks", {"status": "todo"}), Reply(text="OK"))

    response = post(pro_client, context)

    assert response.status_code == 200, response.content
    explained = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert problem in explained["error"]
    assert response.json()["response"] == "OK"


def test_malformed_calls_twice_fail_the_turn_with_no_actions(pro_client, context, llm_upstream):
    llm_upstream.script(
        Reply(
            tool_calls=[
                {"name": "create_task", "arguments": {"title": "Kept?"}},
                {"name": "create_task", "arguments": {"priority": "high"}},
            ]
        ),
        Reply.tool_call("create_task", {"title": ""}),
    )

    response = post(pro_client, context)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "AGENT_FAILED"
    assert error["details"] == {"agent": "tasks", "malformed_calls": 1}
    assert "actions" not in response.json()
    assert len(llm_upstream.chat_requests) == 2
    run = AgentRun.objects.get()
    assert run.outcome == "failed" and run.error_code == "AGENT_FAILED"
    assert run.prompt_tokens > 0  # the tokens spent are still counted


def test_the_iteration_cap_ends_a_model_that_never_stops_calling(
    pro_client, context, llm_upstream, settings
):
    settings.AGENTS_MAX_ITERATIONS = 3
    llm_upstream.default_reply = Reply.tool_call("list_tasks", {})

    response = post(pro_client, context)

    assert response.status_code == 502
    assert response.json()["error"]["details"] == {"agent": "tasks", "max_iterations": 3}
    assert len(llm_upstream.chat_requests) == 3
    assert AgentRun.objects.get().iterations == 3


def test_tool_results_go_back_with_the_assistants_calls(pro_client, context, llm_upstream):
    llm_upstream.script(
        Reply(
            text="Looking.",
            tool_calls=[{"name": "list_task_comments", "arguments": {"task_id": "t-1"}}],
        ),
        Reply(text="Bob has the total."),
    )

    post(pro_client, context)

    messages = llm_upstream.chat_requests[1].json["messages"]
    assistant, tool = messages[-2], messages[-1]
    assert assistant["role"] == "assistant" and assistant["content"] == "Looking."
    assert assistant["tool_calls"][0]["function"]["name"] == "list_task_comments"
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "Ask Bob for the total" in tool["content"]


def test_a_provider_failure_is_its_error_and_the_run_says_failed(pro_client, context, llm_upstream):
    llm_upstream.script(Reply.auth_failed())

    response = post(pro_client, context)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "PROVIDER_AUTH_FAILED"
    assert AgentRun.objects.get().outcome == "failed"
