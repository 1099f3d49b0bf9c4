"""Personas, playbooks and runs over HTTP: CRUD, tier rules, isolation, expiry."""

from datetime import timedelta

import pytest

from accounts.models import Persona
from agents.models import AgentRun
from agents.services import agent_runs_expire
from agents.tests.conftest import CHAT_URL, system_prompt
from billing.tiers import Tier
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db
PERSONAS = "/api/v1/personas"


def persona(client, **fields):
    body = {"name": "Ada", "system_prompt": "You are Ada. Answer tersely.", **fields}
    return client.post(PERSONAS, body, format="json")


def test_persona_crud(auth_client):
    created = persona(auth_client, default_model="gpt-4o-mini", temperature=0.2)
    persona_id = created.json()["id"]

    listed = auth_client.get(PERSONAS).json()["personas"]
    renamed = auth_client.patch(f"{PERSONAS}/{persona_id}", {"name": "Ada 2"}, format="json")
    fetched = auth_client.get(f"{PERSONAS}/{persona_id}")
    deleted = auth_client.delete(f"{PERSONAS}/{persona_id}")

    assert created.status_code == 201 and created.json()["temperature"] == 0.2
    assert [p["name"] for p in listed] == ["Ada"]
    assert renamed.status_code == 200 and fetched.json()["name"] == "Ada 2"
    assert fetched.json()["system_prompt"] == "You are Ada. Answer tersely."
    assert deleted.status_code == 204 and not Persona.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"temperature": 3}, "temperature"),
        ({"default_model": "no-such-model"}, "default_model"),
        ({"system_prompt": "x" * 8001}, "system_prompt"),
    ],
)
def test_invalid_personas_are_400s(auth_client, fields, field):
    response = persona(auth_client, **fields)

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_a_second_persona_of_the_same_name_is_a_conflict(auth_client):
    persona(auth_client)

    response = persona(auth_client)

    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


def test_another_users_persona_is_a_404_everywhere(auth_client, other_client, llm_upstream):
    theirs = persona(other_client).json()["id"]

    reads = [
        auth_client.get(f"{PERSONAS}/{theirs}"),
        auth_client.patch(f"{PERSONAS}/{theirs}", {"name": "Mine"}, format="json"),
        auth_client.delete(f"{PERSONAS}/{theirs}"),
        auth_client.post(CHAT_URL, {"message": "hi", "persona": theirs}, format="json"),
    ]

    assert [r.status_code for r in reads] == [404, 404, 404, 404]
    assert auth_client.get(PERSONAS).json()["personas"] == []
    assert Persona.objects.get().name == "Ada"


def test_an_agent_speaks_as_the_persona_with_its_model_and_temperature(pro_client, llm_upstream):
    persona(pro_client, name="Terse", default_model="claude-haiku-4-5", temperature=0.1)
    llm_upstream.script(Reply(text="Yes."))

    response = pro_client.post(
        CHAT_URL, {"message": "hello", "persona": "Terse", "agents": ["notes"]}, format="json"
    )

    assert response.status_code == 200, response.content
    sent = llm_upstream.chat_requests[0]
    assert system_prompt(sent).startswith("You are Ada. Answer tersely.")
    assert sent.json["model"] != "gpt-4o-mini" and sent.json["temperature"] == 0.1
    run = AgentRun.objects.get()
    assert run.model_id == "claude-haiku-4-5" and run.persona_id is not None


def test_runs_are_listed_for_their_owner_only(auth_client, other_client, llm_upstream):
    llm_upstream.script(Reply(text="ok"))
    mine = auth_client.post(CHAT_URL, {"message": "hi", "agents": ["tasks"]}, format="json")
    run_id = mine.json()["run_id"]

    listed = auth_client.get("/api/v1/agents/runs").json()
    theirs = other_client.get("/api/v1/agents/runs").json()
    detail = auth_client.get(f"/api/v1/agents/runs/{run_id}")

    assert [r["id"] for r in listed["results"]] == [run_id] and listed["has_more"] is False
    assert detail.json()["agents"] == ["tasks"] and detail.json()["outcome"] == "succeeded"
    assert theirs["results"] == []
    assert other_client.get(f"/api/v1/agents/runs/{run_id}").status_code == 404


def test_runs_expire(auth_client, llm_upstream):
    auth_client.post(CHAT_URL, {"message": "hi", "agents": ["tasks"]}, format="json")
    run = AgentRun.objects.get()

    kept = agent_runs_expire(now=run.expires_at - timedelta(seconds=1))
    gone = agent_runs_expire(now=run.expires_at)

    assert (kept, gone) == (0, 1) and not AgentRun.objects.exists()
    assert abs(run.expires_at - run.created_at - timedelta(days=7)) < timedelta(minutes=1)


def test_playbooks_follow_the_tier(auth_client, pro_client, user):
    free = [p["id"] for p in auth_client.get("/api/v1/plans/playbook").json()["playbooks"]]
    pro = [p["id"] for p in pro_client.get("/api/v1/plans/playbook").json()["playbooks"]]
    user.tier = Tier.POWER
    user.save(update_fields=["tier"])
    power = [p["id"] for p in auth_client.get("/api/v1/plans/playbook").json()["playbooks"]]

    assert free == ["email-to-task"]
    assert pro == ["email-to-task", "project-checkpoints"]
    assert power == ["email-to-task", "weekly-report", "project-checkpoints"]


def test_one_playbook_names_its_templates_by_id(auth_client, pro_client):
    playbook = auth_client.get("/api/v1/plans/playbook/email-to-task")
    refused = auth_client.get("/api/v1/plans/playbook/project-checkpoints")
    missing = auth_client.get("/api/v1/plans/playbook/nope")

    plan = playbook.json()["plan"]
    assert plan["steps"][0]["template_id"] == "playbook.email_to_task@v1"
    assert plan["steps"][0]["variables"] == {"email": "$input"}
    assert "Read the email below" not in playbook.content.decode()
    assert refused.status_code == 403 and refused.json()["error"]["details"]["tier"] == "free"
    assert missing.status_code == 404
