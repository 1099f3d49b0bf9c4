"""Pipelines, plan mode and the tier's limits on agents."""

import json

import pytest

from agents import prompts
from agents.models import AgentRun
from agents.plans import plan_cache
from agents.tests.conftest import CHAT_URL, system_prompt
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db


def test_a_two_agent_pipeline_passes_results_on_and_synthesises_once(
    pro_client, context, llm_upstream
):
    llm_upstream.script(
        Reply.tool_call("create_task", {"title": "Write the launch post"}),
        Reply(text="Task created."),
        Reply.tool_call("create_note", {"title": "Launch post", "content": "Draft"}),
        Reply(text="Note created."),
        Reply(text="I created a task and a note for the launch post."),
    )

    response = pro_client.post(
        CHAT_URL,
        {"message": "plan the launch post", "context": context, "agents": ["tasks", "notes"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response"] == "I created a task and a note for the launch post."
    assert body["agents"] == ["tasks", "notes"]
    assert [(a["type"], a["table"]) for a in body["actions"]] == [
        ("create_record", "tasks"),
        ("create_record", "notes"),
    ]
    requests = llm_upstream.chat_requests
    assert len(requests) == 5
    notes_first = system_prompt(requests[2])
    assert "<previous_results>\n[tasks] Task created.\n</previous_results>" in notes_first
    synthesis = requests[4].json
    assert "tools" not in synthesis
    assert synthesis["messages"][0]["content"] == prompts.template("synthesis").text
    assert "[tasks]\nTask created." in synthesis["messages"][1]["content"]
    assert "[notes]\nNote created." in synthesis["messages"][1]["content"]
    run = AgentRun.objects.get()
    assert run.agents == ["tasks", "notes"] and run.route_method == "explicit"
    assert run.tools_called == ["create_task", "create_note"] and run.iterations == 5


def test_plan_mode_returns_template_ids_and_never_their_text(pro_client, context, llm_upstream):
    llm_upstream.script(Reply.routing("tasks"))

    response = pro_client.post(
        CHAT_URL,
        {"message": "what is due today", "context": context, "execution_mode": "plan"},
        format="json",
    )

    assert response.status_code == 200, response.content
    plan = response.json()
    assert plan["agent"] == "tasks"
    llm_steps = [step for step in plan["steps"] if step["action"] == "llm"]
    assert [step["template_id"] for step in llm_steps] == ["agent.tasks@v1"]
    assert llm_steps[0]["variables"] == {"message": "$message", "context": "$context"}
    assert plan["steps"][-1] == {
        "action": "apply_actions",
        "template_id": None,
        "variables": None,
        "data_from_step": 1,
    }
    raw = json.dumps(plan)
    for template in prompts.TEMPLATES.values():
        assert template.text[:60] not in raw
    assert len(llm_upstream.chat_requests) == 1  # routing only: a plan runs no agent


def test_plans_are_cached_by_the_requests_shape(pro_client, context, llm_upstream):
    plan_cache.clear()
    body = {"message": "x", "context": context, "agents": ["notes"], "execution_mode": "plan"}

    first = pro_client.post(CHAT_URL, body, format="json").json()
    second = pro_client.post(CHAT_URL, body | {"message": "y"}, format="json").json()
    other = pro_client.post(CHAT_URL, body | {"context": {}}, format="json").json()

    assert first["steps"] == second["steps"] and len(plan_cache) == 2
    assert other["steps"][0]["action"] == "llm"


def test_a_free_users_fourth_agent_is_refused_naming_the_tier(auth_client, context, llm_upstream):
    listed = auth_client.get("/api/v1/agents").json()["agents"]

    response = auth_client.post(
        CHAT_URL, {"message": "archive it", "agents": ["projects"]}, format="json"
    )

    assert [a["name"] for a in listed] == ["memory", "tasks", "notes"]
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED" and "free plan" in error["message"]
    assert error["details"] == {
        "feature": "agents",
        "tier": "free",
        "limit": 3,
        "agent": "projects",
    }
    assert llm_upstream.chat_requests == [] and not AgentRun.objects.exists()


def test_a_paying_user_may_use_every_agent(pro_client):
    listed = pro_client.get("/api/v1/agents").json()["agents"]

    assert [a["name"] for a in listed] == ["memory", "tasks", "notes", "projects", "checkpoints"]
    assert listed[1]["tools"][:2] == ["list_tasks", "create_task"]


def test_a_pipeline_longer_than_the_plans_batch_is_refused(auth_client):
    response = auth_client.post(
        CHAT_URL, {"message": "x", "agents": ["memory", "tasks", "notes"]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["details"] == {
        "feature": "active_batches",
        "tier": "free",
        "limit": 2,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "x", "execution_mode": "later"}, "execution_mode"),
        ({"message": "x", "context": {"recent_tasks": "all"}}, "context"),
        ({"message": "x", "context": {"conversation_history": [{"role": "x"}]}}, "context"),
        ({"message": "x", "agents": []}, "agents"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(pro_client, body, field):
    response = pro_client.post(CHAT_URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_an_unknown_agent_is_a_404(pro_client):
    response = pro_client.post(CHAT_URL, {"message": "x", "agents": ["calendar"]}, format="json")

    assert response.status_code == 404
