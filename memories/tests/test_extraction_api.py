"""Memory intelligence through the URLs: extract, jobs, revert, automatic extraction after a
completed capture, and what happens without an LLM."""

import json
import logging

import pytest

from memories.models import ExtractionJob, JobStatus, JobTrigger, Memory, MemoryHistory
from memories.services import MemoryDraft, memory_create, memory_delete
from memories.tests.conftest import decisions_reply, facts_reply
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db

EXTRACT = "/api/v1/memories/extract"
CONVERSATION = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "I switched from Python to Rust for my CLI tools."},
        {"role": "assistant", "content": "Rust is a fine choice for CLIs."},
    ],
}


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def test_extract_answers_202_and_the_job_reports_what_it_did(
    auth_client, user, llm_upstream, committing, remember
):
    old = remember(user, "The user writes CLI tools in Python.", agent_id="cli")
    llm_upstream.script(
        facts_reply("The user writes CLI tools in Rust.", "The user likes Rust."),
        decisions_reply(
            {
                "fact": 0,
                "event": "UPDATE",
                "memory_id": "0",
                "text": "The user writes CLIs in Rust.",
            },
            {"fact": 1, "event": "ADD", "text": "The user likes Rust."},
        ),
    )
    body = {**CONVERSATION, "agent_id": "cli", "metadata": {"client": "test"}}

    accepted = committing(lambda: auth_client.post(EXTRACT, body, format="json"))

    assert accepted.status_code == 202, accepted.content
    queued = accepted.json()
    assert (queued["status"], queued["trigger"], queued["agent_id"]) == ("queued", "api", "cli")
    job = auth_client.get(f"/api/v1/jobs/{queued['id']}").json()
    assert job["status"] == "succeeded" and job["error"] == ""
    assert job["facts"] == ["The user writes CLI tools in Rust.", "The user likes Rust."]
    assert [(op["event"], op["applied"]) for op in job["operations"]] == [
        ("UPDATE", True),
        ("ADD", True),
    ]
    assert job["operations"][0]["memory_id"] == str(old.pk)
    assert job["duration_ms"] >= job["llm_ms"] > 0 and job["finished_at"]
    added = Memory.objects.get(pk=job["operations"][1]["memory_id"])
    assert (added.agent_id, added.metadata["client"]) == ("cli", "test")
    history = auth_client.get(f"/api/v1/memories/{old.pk}/history").json()["results"]
    assert [(e["event"], e["job_id"]) for e in history] == [
        ("create", None),
        ("update", queued["id"]),
    ]
    assert history[1]["id"] == job["operations"][0]["history_id"]


def test_without_an_llm_extract_answers_503_and_stores_nothing(auth_client, user):
    response = auth_client.post(EXTRACT, CONVERSATION, format="json")

    error = error_of(response, 503, "PROVIDER_UNAVAILABLE")
    assert error["message"].startswith("No language model is available for memory extraction")
    assert error["details"] == {"model": "gpt-4o-mini", "reason": "api_key_required"}
    assert not ExtractionJob.objects.exists()


def test_the_users_own_key_makes_extraction_available(auth_client, user, llm_upstream, settings):
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "openai": {**settings.LLM_PROVIDERS["openai"], "api_key": ""},
    }
    auth_client.put("/api/v1/auth/provider-keys/openai", {"api_key": "sk-users-own-key-1234"})

    assert auth_client.post(EXTRACT, CONVERSATION, format="json").status_code == 202


def test_an_unknown_extraction_model_is_a_clear_503(auth_client, llm_upstream, settings):
    settings.MEMORY_EXTRACTION_MODEL = "no-such-model"

    error = error_of(
        auth_client.post(EXTRACT, CONVERSATION, format="json"), 503, "PROVIDER_UNAVAILABLE"
    )
    assert "MEMORY_EXTRACTION_MODEL" in error["message"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"messages": []}, 400, "VALIDATION_ERROR", "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "VALIDATION_ERROR", "messages"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "VALIDATION_ERROR", "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, 400, "VALIDATION_ERROR", "messages"),
        ({"messages": [{"role": "user", "content": "x" * 40_000}]}, 413, "PAYLOAD_TOO_LARGE", None),
    ],
)
def test_extract_refuses_what_it_cannot_read(auth_client, llm_upstream, body, status, code, field):
    error = error_of(auth_client.post(EXTRACT, body, format="json"), status, code)
    if field:
        assert field in error["details"]
    assert not ExtractionJob.objects.exists()


def test_jobs_and_reverts_of_others_are_invisible(other_client, user, llm_upstream):
    job = ExtractionJob.objects.create(user=user, model="gpt-4o-mini", prompt_version="v")
    memory, _ = memory_create(user=user, draft=MemoryDraft(content="The user likes tea."))
    entry = MemoryHistory.objects.get(memory_id=memory.pk)

    assert_invisible_to(
        other_client,
        [
            ("get", f"/api/v1/jobs/{job.pk}"),
            ("get", "/api/v1/jobs/not-a-uuid"),
            ("post", f"/api/v1/memories/{memory.pk}/revert"),
        ],
    )
    response = other_client.post(
        f"/api/v1/memories/{memory.pk}/revert", {"history_id": str(entry.pk)}, format="json"
    )
    error_of(response, 404, "NOT_FOUND")


def test_revert_restores_the_earlier_text(auth_client, user):
    memory, _ = memory_create(user=user, draft=MemoryDraft(content="The user lives in Paris."))
    url = f"/api/v1/memories/{memory.pk}"
    auth_client.patch(url, {"content": "The user lives in Berlin."}, format="json")
    created = auth_client.get(f"{url}/history").json()["results"][0]

    response = auth_client.post(f"{url}/revert", {"history_id": created["id"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["content"] == "The user lives in Paris."
    assert response.json()["embedding_status"] == "pending"  # re-embedded for the old text
    history = auth_client.get(f"{url}/history").json()["results"]
    assert [e["event"] for e in history] == ["create", "update", "revert"]
    assert history[-1]["reverted_to"] == created["id"]
    assert (history[-1]["old_content"], history[-1]["new_content"]) == (
        "The user lives in Berlin.",
        "The user lives in Paris.",
    )


def test_revert_brings_a_deleted_memory_back_with_its_id_and_fields(auth_client, user):
    memory, _ = memory_create(
        user=user,
        draft=MemoryDraft(
            content="The user has a cat named Miso.", tags=["pets"], agent_id="a", importance=0.8
        ),
    )
    memory_id, created_at = memory.pk, memory.created_at
    memory_delete(memory=memory)
    created = MemoryHistory.objects.get(memory_id=memory_id, event="create")

    response = auth_client.post(
        f"/api/v1/memories/{memory_id}/revert", {"history_id": str(created.pk)}, format="json"
    )

    assert response.status_code == 200, response.content
    restored = Memory.objects.get(pk=memory_id)
    assert (restored.content, restored.tags, restored.agent_id, restored.importance) == (
        "The user has a cat named Miso.",
        ["pets"],
        "a",
        0.8,
    )
    assert restored.created_at == created_at


def test_revert_to_a_removal_or_onto_a_taken_text_is_refused(auth_client, user):
    memory, _ = memory_create(user=user, draft=MemoryDraft(content="The user lives in Paris."))
    url = f"/api/v1/memories/{memory.pk}"
    auth_client.patch(url, {"content": "The user lives in Berlin."}, format="json")
    memory_create(user=user, draft=MemoryDraft(content="The user lives in Paris."))
    created = MemoryHistory.objects.get(memory_id=memory.pk, event="create")

    taken = auth_client.post(f"{url}/revert", {"history_id": str(created.pk)}, format="json")

    error_of(taken, 409, "CONFLICT")
    auth_client.delete(url)
    removal = MemoryHistory.objects.get(memory_id=memory.pk, event="delete")
    refused = auth_client.post(f"{url}/revert", {"history_id": str(removal.pk)}, format="json")
    assert error_of(refused, 400, "VALIDATION_ERROR")["details"] == {
        "history_id": ["This entry has no content to restore."]
    }


def test_a_completed_capture_is_extracted_in_its_scope(auth_client, user, llm_upstream, committing):
    captured = auth_client.post(
        "/api/v1/memories/prompts",
        {"prompt": "Plan my trip to Lisbon in May", "provider": "claude", "session_id": "s-9"},
        format="json",
    ).json()
    llm_upstream.script(facts_reply("The user is travelling to Lisbon in May."))

    saved = committing(
        lambda: auth_client.post(
            f"/api/v1/memories/{captured['id']}/response",
            {"response": "Day 1: Alfama..."},
            format="json",
        )
    )

    assert saved.status_code == 200
    job = ExtractionJob.objects.get(user=user)
    assert (job.trigger, job.status, job.session_id) == (
        JobTrigger.CAPTURE,
        JobStatus.SUCCEEDED,
        "s-9",
    )
    assert job.metadata == {"memory_id": captured["id"]}
    assert job.messages[0] == {"role": "user", "content": "Plan my trip to Lisbon in May"}
    fact = Memory.objects.get(user=user, source="extraction")
    assert (fact.content, fact.session_id) == ("The user is travelling to Lisbon in May.", "s-9")


def test_a_capture_is_extracted_by_a_job_whose_id_is_all_the_queue_carries(
    auth_client, user, llm_upstream, committing, broker_messages
):
    memory, _ = memory_create(user=user, draft=MemoryDraft(prompt="Which bike for gravel?"))
    llm_upstream.script(facts_reply("The user rides gravel."))

    committing(
        lambda: auth_client.post(
            f"/api/v1/memories/{memory.pk}/response", {"response": "A steel frame."}, format="json"
        )
    )

    job = ExtractionJob.objects.get(user=user)
    assert ("memories.extract", (str(job.pk),), {}) in broker_messages
    assert "gravel" not in json.dumps(broker_messages)
    assert "steel frame" not in json.dumps(broker_messages)
    assert job.status == JobStatus.SUCCEEDED and job.messages[1]["content"] == "A steel frame."


def test_no_automatic_extraction_when_turned_off(auth_client, user, llm_upstream, committing):
    user.auto_extract = False
    user.save()
    memory, _ = memory_create(user=user, draft=MemoryDraft(prompt="Hi", source="extension"))

    committing(
        lambda: auth_client.post(
            f"/api/v1/memories/{memory.pk}/response", {"response": "Hello"}, format="json"
        )
    )

    assert not ExtractionJob.objects.exists() and llm_upstream.chat_requests == []


def test_without_an_llm_automatic_extraction_is_skipped_and_logged(
    auth_client, user, committing, caplog
):
    memory, _ = memory_create(user=user, draft=MemoryDraft(prompt="Hi", source="extension"))

    with caplog.at_level(logging.INFO, logger="memories.services.extraction_jobs"):
        saved = committing(
            lambda: auth_client.post(
                f"/api/v1/memories/{memory.pk}/response", {"response": "Hello"}, format="json"
            )
        )

    assert saved.status_code == 200
    assert not ExtractionJob.objects.exists()
    assert "Automatic extraction for user" in caplog.text and "skipped" in caplog.text


def test_the_new_endpoints_are_documented(auth_client):
    schema = auth_client.get("/api/schema/?format=json").json()

    operations = {
        operation["operationId"] for path in schema["paths"].values() for operation in path.values()
    }
    assert {"memories_extract", "jobs_retrieve", "memories_revert"} <= operations
    assert "202" in schema["paths"]["/api/v1/memories/extract"]["post"]["responses"]
