"""Suggestions through the fake OpenAI-compatible server: drafts to approve or dismiss, no
duplicates of open tasks, a cap on drafts waiting, and 503 without a model."""

import json

import pytest

from memories import services as memories
from tasks.models import Task, TaskSource
from tasks.tests.factories import TaskFactory
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db
SUGGEST = "/api/v1/tasks/suggestions"


def tasks_reply(*titles: str, **fields) -> Reply:
    return Reply(text=json.dumps({"tasks": [{"title": title, **fields} for title in titles]}))


@pytest.fixture
def noted(user):
    memories.memory_create(
        user=user,
        draft=memories.MemoryDraft(content="My passport expires in March; the dentist called."),
    )


def test_suggestions_are_drafts_to_approve_or_dismiss(auth_client, llm_upstream, noted):
    llm_upstream.script(tasks_reply("Renew the passport", "Call the dentist", priority="high"))

    response = auth_client.post(SUGGEST)

    assert response.status_code == 201, response.content
    created = response.json()["created"]
    assert [(t["title"], t["is_ai_suggested"], t["is_approved"], t["source"]) for t in created] == [
        ("Renew the passport", True, False, TaskSource.SUGGESTION),
        ("Call the dentist", True, False, TaskSource.SUGGESTION),
    ]
    assert "passport expires in March" in llm_upstream.requests[-1].json["messages"][0]["content"]
    renew, dentist = (f"/api/v1/tasks/{t['id']}" for t in created)

    refused = auth_client.patch(renew, {"status": "done"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CONFLICT"
    assert auth_client.patch(renew, {"is_approved": True}, format="json").json()["is_approved"]
    assert auth_client.patch(renew, {"status": "done"}, format="json").status_code == 200
    assert auth_client.delete(dentist).status_code == 204
    pending = auth_client.get("/api/v1/tasks", {"is_approved": "false"}).json()["results"]
    assert pending == []


def test_a_proposal_like_an_open_task_is_left_out(auth_client, user, llm_upstream, noted):
    TaskFactory(user=user, title="Renew the passport")
    TaskFactory(user=user, title="Buy stamps", status="done")
    llm_upstream.script(
        tasks_reply("renew the  Passport.", "Buy stamps", "Call the dentist", "call the dentist")
    )

    created = auth_client.post(SUGGEST).json()["created"]

    assert [task["title"] for task in created] == ["Buy stamps", "Call the dentist"]


def test_never_more_than_the_cap_wait(auth_client, user, llm_upstream, noted, settings):
    settings.TASKS_SUGGESTIONS_MAX_PENDING = 2
    llm_upstream.script(tasks_reply("One", "Two", "Three"))

    assert len(auth_client.post(SUGGEST).json()["created"]) == 2
    asked = len(llm_upstream.requests)
    again = auth_client.post(SUGGEST)

    assert again.status_code == 201 and again.json()["created"] == []
    assert len(llm_upstream.requests) == asked  # the model is not even asked
    assert Task.objects.filter(user=user, is_approved=False).count() == 2


@pytest.mark.parametrize(
    "answer", ["Sure! Here are some ideas: water the plants.", "[" * 10_000], ids=["prose", "deep"]
)
def test_an_answer_that_is_not_tasks_proposes_nothing(auth_client, llm_upstream, noted, answer):
    llm_upstream.script(Reply(text=answer))
    response = auth_client.post(SUGGEST)
    assert response.status_code == 201 and response.json()["created"] == []
    assert not Task.objects.exists()


def test_without_a_model_suggestions_answer_503(auth_client, noted):
    response = auth_client.post(SUGGEST)

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_UNAVAILABLE"
    assert error["message"].startswith("No language model is available for task suggestions")
    assert not Task.objects.exists()
