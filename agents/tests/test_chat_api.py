"""POST /api/v1/chat in direct mode, through the real tool loop against the fake model."""

from decimal import Decimal

import pytest

from agents.actions import action_check
from agents.models import AgentRun
from agents.tests.conftest import CHAT_URL, tool_messages
from billing.models import DailyUsage
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db


def test_a_direct_turn_reads_the_context_and_answers_with_actions(
    pro_client, pro_user, context, llm_upstream
):
    llm_upstream.script(
        Reply.tool_call("list_tasks_due_today", {}),
        Reply.tool_call("update_task", {"task_id": "t-1", "status": "done"}),
        Reply(text="Done: the invoice task is closed."),
    )

    response = pro_client.post(
        CHAT_URL,
        {"message": "close what is due today", "context": context, "agents": ["tasks"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response"] == "Done: the invoice task is closed."
    assert body["agent"] == "tasks"
    assert body["actions"] == [
        {"type": "update_record", "table": "tasks", "data": {"id": "t-1", "status": "done"}}
    ]
    for action in body["actions"]:
        action_check(action)
    # The read tool answered from the context: today's open task, not the done one.
    due = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert [t["id"] for t in due["tasks"]] == ["t-1"]
    sent = llm_upstream.chat_requests[0].json
    assert {t["function"]["name"] for t in sent["tools"]} >= {"list_tasks", "add_task_comment"}
    assert len(sent["tools"]) == 8
    run = AgentRun.objects.get(pk=body["run_id"])
    assert run.outcome == "succeeded" and run.tools_called == [
        "list_tasks_due_today",
        "update_task",
    ]
    assert run.iterations == 3 and run.actions == 1
    usage = DailyUsage.objects.get(user=pro_user)
    assert usage.prompt_tokens == body["usage"]["prompt_tokens"] > 0
    assert usage.completion_tokens == body["usage"]["completion_tokens"] > 0
    assert usage.cost_usd == Decimal(str(body["usage"]["cost_usd"])) > 0
