"""Routing: the routing model's JSON answer picks the agent; without a routing model, or with
an answer that is not usable, the local embedding router does."""

import pytest

from agents.models import AgentRun
from agents.registry import registry
from agents.tests.conftest import CHAT_URL, system_prompt, tool_messages
from memories.services import MemoryDraft, memory_create
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db

# A message for each agent: its first example. Tests embed with the hashing embedder, which
# only sees shared words; how well the local router does on new wording is what
# `make bench-agents` measures, with the real embedder.
MESSAGES = {spec.name: spec.examples[0] for spec in registry.all()}


def ask(client, message: str, context: dict):
    return client.post(CHAT_URL, {"message": message, "context": context}, format="json")


@pytest.mark.parametrize("agent", list(MESSAGES))
def test_the_routing_model_sends_each_agent_its_messages(agent, pro_client, context, llm_upstream):
    llm_upstream.script(Reply.routing(agent, 0.8), Reply(text=f"{agent} here"))

    response = ask(pro_client, "something only a model could tell", context)

    assert response.status_code == 200, response.content
    assert response.json()["agent"] == agent and response.json()["response"] == f"{agent} here"
    router, answer = llm_upstream.chat_requests
    assert router.json["response_format"] == {"type": "json_object"} and "tools" not in router.json
    assert router.json["temperature"] == 0
    assert all(f"- {name}:" in system_prompt(router) for name in MESSAGES)
    assert len(answer.json["tools"]) > 0
    run = AgentRun.objects.get()
    assert (run.route_method, run.route_confidence, run.agents) == ("llm", 0.8, [agent])


@pytest.mark.parametrize("agent", list(MESSAGES))
def test_without_a_routing_model_the_local_router_decides(
    agent, pro_client, context, llm_upstream, settings
):
    settings.AGENTS_ROUTER_MODEL = ""
    llm_upstream.script(Reply(text="answered"))

    response = ask(pro_client, MESSAGES[agent], context)

    assert response.status_code == 200, response.content
    assert response.json()["agent"] == agent
    assert len(llm_upstream.chat_requests) == 1  # the agent's call only
    assert AgentRun.objects.get().route_method == "local"


@pytest.mark.parametrize(
    "answer",
    [
        "I think the tasks agent",
        '{"agent": "calendar", "confidence": 0.9}',
        '{"agent": "tasks", "confidence": "high"}',
        '["tasks"]',
    ],
)
def test_an_unusable_routing_answer_falls_back_to_the_local_router(
    answer, pro_client, context, llm_upstream
):
    llm_upstream.script(Reply(text=answer), Reply(text="noted"))

    response = ask(pro_client, MESSAGES["notes"], context)

    assert response.status_code == 200
    assert response.json()["agent"] == "notes"
    assert AgentRun.objects.get().route_method == "local"


def test_a_failing_routing_model_falls_back_to_the_local_router(pro_client, context, llm_upstream):
    llm_upstream.script(Reply.server_error(503), Reply.server_error(503), Reply.server_error(503))
    llm_upstream.script(Reply.server_error(503), Reply(text="done"))

    response = ask(pro_client, MESSAGES["projects"], context)

    assert response.status_code == 200, response.content
    assert response.json()["agent"] == "projects"


def test_a_free_user_is_routed_only_among_their_agents(auth_client, context, llm_upstream):
    llm_upstream.script(Reply.routing("projects"), Reply(text="fine"))

    response = ask(auth_client, MESSAGES["projects"], context)

    router = llm_upstream.chat_requests[0]
    assert "- projects:" not in system_prompt(router)
    # The model named an agent the plan does not include: the local router picks among the three.
    assert response.json()["agent"] in {"memory", "tasks", "notes"}


def test_the_users_memories_are_in_the_agents_prompt(
    pro_user, pro_client, llm_upstream, committing
):
    draft = MemoryDraft(content="I drink my coffee black, no sugar")
    committing(lambda: memory_create(user=pro_user, draft=draft))
    llm_upstream.script(
        Reply.tool_call("search_memories", {"query": "coffee"}), Reply(text="Black.")
    )

    pro_client.post(
        CHAT_URL, {"message": "how do I take my coffee", "agents": ["memory"]}, format="json"
    )

    prompt = system_prompt(llm_upstream.chat_requests[0])
    assert "<memories>" in prompt and "I drink my coffee black, no sugar" in prompt
    found = tool_messages(llm_upstream.chat_requests[1])[0]["content"]
    assert found["memories"][0]["text"] == "I drink my coffee black, no sugar"
