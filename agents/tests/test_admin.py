"""The operator console: recent runs (no message text) and the registered agents and playbooks."""

import pytest

from agents.tests.conftest import CHAT_URL
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db


def test_runs_show_route_tools_timing_and_outcome_but_no_text(
    operator_client, auth_client, context, llm_upstream
):
    llm_upstream.script(Reply.tool_call("list_tasks", {}), Reply(text="Here they are"))
    auth_client.post(
        CHAT_URL,
        {"message": "my secret plans for tuesday", "context": context, "agents": ["tasks"]},
        format="json",
    )

    page = operator_client.get("/admin/agents/agentrun/").content.decode()

    assert "list_tasks" in page and "succeeded" in page
    assert "secret plans" not in page and "Send the invoice" not in page


def test_the_catalog_lists_agents_tools_and_playbooks(operator_client):
    page = operator_client.get("/admin/agents/agentrun/catalog/").content.decode()

    assert "list_tasks_due_today" in page and "delete_project" in page
    assert "email-to-task" in page and "playbook.weekly_report@v1" in page
    assert "Read the email below" not in page  # ids, not the templates' text


def test_runs_cannot_be_edited(operator_client):
    assert operator_client.get("/admin/agents/agentrun/add/").status_code == 403
