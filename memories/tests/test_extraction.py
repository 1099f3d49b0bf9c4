"""Extraction jobs against the fake OpenAI-compatible server answering with scripted JSON:
facts, candidate lookup, decisions, one transaction, history with the job, idempotence."""

import json

import pytest
from django.utils import timezone

from billing.models import DailyUsage
from memories import extraction, prompts
from memories.extraction import running
from memories.models import (
    ExtractionJob,
    HistoryEvent,
    JobStatus,
    JobTrigger,
    Memory,
    MemoryHistory,
    Source,
)
from memories.tests.conftest import decisions_reply, facts_reply
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db

CONVERSATION = [
    {"role": "user", "content": "I moved to Berlin last month, and sadly Miso died."},
    {"role": "assistant", "content": "I am sorry about Miso. How is Berlin so far?"},
]


@pytest.fixture
def run_job(user, llm_upstream):
    """Queue a job for ``user`` and run it as the task would; returns it as it ended."""

    def run(messages=CONVERSATION, **scope) -> ExtractionJob:
        job = extraction.extraction_job_create(user=user, messages=messages, **scope)
        extraction.extraction_job_run(job_id=job.pk)
        job.refresh_from_db()
        return job

    return run


def test_a_conversation_yields_add_for_new_facts(user, run_job, llm_upstream):
    llm_upstream.script(facts_reply("The user lives in Berlin.", "The user's cat was Miso."))

    job = run_job(agent_id="assistant-1")

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.facts == ["The user lives in Berlin.", "The user's cat was Miso."]
    assert [(op["event"], op["applied"]) for op in job.operations] == [("ADD", True)] * 2
    stored = Memory.objects.filter(user=user).order_by("content")
    assert [m.content for m in stored] == ["The user lives in Berlin.", "The user's cat was Miso."]
    assert all(m.source == Source.EXTRACTION and m.agent_id == "assistant-1" for m in stored)
    assert all(m.metadata["extraction_job_id"] == str(job.pk) for m in stored)
    history = MemoryHistory.objects.filter(memory_id__in=[m.pk for m in stored])
    assert {(h.event, h.job_id) for h in history} == {(HistoryEvent.CREATE, job.pk)}
    assert {op["history_id"] for op in job.operations} == {str(h.pk) for h in history}
    # Nothing to compare with: no second call to the model.
    assert len(llm_upstream.chat_requests) == 1
    assert job.prompt_version == prompts.PROMPT_VERSION
    assert job.llm_ms > 0 and job.duration_ms >= job.llm_ms


def test_the_request_asks_for_json_and_holds_the_conversation(run_job, llm_upstream):
    llm_upstream.script(facts_reply())

    job = run_job()

    sent = llm_upstream.chat_requests[0].json
    assert sent["model"] == "gpt-4o-mini"
    assert sent["response_format"] == {"type": "json_object"} and sent["temperature"] == 0
    assert sent["messages"][0]["role"] == "system"
    assert "USER: I moved to Berlin last month" in sent["messages"][1]["content"]
    assert "ASSISTANT: I am sorry about Miso" in sent["messages"][1]["content"]
    assert job.status == JobStatus.SUCCEEDED and job.operations == []


def test_the_fake_upstream_with_nothing_scripted_finds_no_facts(user, run_job, llm_upstream):
    job = run_job()

    assert (job.status, job.facts, job.operations) == (JobStatus.SUCCEEDED, [], [])
    assert len(llm_upstream.chat_requests) == 1
    assert not Memory.objects.filter(user=user).exists()


def test_a_contradicting_conversation_updates_and_deletes_the_right_memories(
    user, run_job, llm_upstream, remember, settings
):
    settings.MEMORY_EXTRACTION_CANDIDATES = 1  # the nearest memory per fact, in fact order
    city = remember(user, "The user lives in Paris.")
    cat = remember(user, "The user has a cat named Miso.")
    hobby = remember(user, "The user plays the cello on Sundays.")
    llm_upstream.script(
        facts_reply("The user lives in Berlin.", "The user no longer has a cat named Miso."),
        decisions_reply(
            {"fact": 0, "event": "UPDATE", "memory_id": "0", "text": "The user lives in Berlin."},
            {"fact": 1, "event": "DELETE", "memory_id": "1"},
        ),
    )

    job = run_job()

    assert job.status == JobStatus.SUCCEEDED, job.error
    # The short ids the model saw: the nearest memory to the first fact is "0", and so on.
    shown = llm_upstream.chat_requests[1].json["messages"][1]["content"]
    stored = json.loads(shown.split("Stored memories:\n")[1].split("\n\nNew facts:")[0])
    assert stored == [
        {"id": "0", "text": "The user lives in Paris."},
        {"id": "1", "text": "The user has a cat named Miso."},
    ]
    update, delete = job.operations
    assert update | {"history_id": None} == {
        "fact": "The user lives in Berlin.",
        "event": "UPDATE",
        "memory_id": str(city.pk),
        "text": "The user lives in Berlin.",
        "previous_text": "The user lives in Paris.",
        "applied": True,
        "reason": "",
        "history_id": None,
    }
    assert (delete["event"], delete["memory_id"], delete["applied"]) == (
        "DELETE",
        str(cat.pk),
        True,
    )
    city.refresh_from_db()
    assert city.content == "The user lives in Berlin."
    assert not Memory.objects.filter(pk=cat.pk).exists()
    assert Memory.objects.get(pk=hobby.pk).content == "The user plays the cello on Sundays."
    changes = MemoryHistory.objects.filter(job=job).order_by("event")
    assert [(h.memory_id, h.event) for h in changes] == [
        (cat.pk, HistoryEvent.DELETE),
        (city.pk, HistoryEvent.UPDATE),
    ]
    assert update["history_id"] == str(changes[1].pk)


def test_malformed_json_then_valid_json_succeeds(user, run_job, llm_upstream):
    llm_upstream.script(
        Reply(text="Sure! Here are the facts: the user lives in Berlin."),
        Reply(text='```json\n{"facts": ["The user lives in Berlin."]}\n```'),
    )

    job = run_job()

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Memory.objects.filter(user=user, content="The user lives in Berlin.").exists()
    retry = llm_upstream.chat_requests[1].json["messages"]
    assert retry[-2] == {
        "role": "assistant",
        "content": "Sure! Here are the facts: the user lives in Berlin.",
    }
    assert "not JSON" in retry[-1]["content"]


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        pytest.param(
            [Reply(text="no JSON here"), Reply(text='{"facts": "The user lives in Berlin."}')],
            "facts: 'The user lives in Berlin.' is not of type 'array'",
            id="facts",
        ),
        pytest.param(
            [
                facts_reply("The user lives in Berlin."),
                decisions_reply({"fact": 0, "event": "UPDATE", "memory_id": "0"}),
                decisions_reply({"fact": 0, "event": "DELETE", "memory_id": "7"}),
            ],
            "there is no stored memory '7'",
            id="decisions",
        ),
    ],
)
def test_malformed_twice_fails_with_the_reason_and_changes_nothing(
    user, run_job, llm_upstream, remember, replies, reason
):
    city = remember(user, "The user lives in Paris.")
    before = list(MemoryHistory.objects.values_list("pk", flat=True))
    llm_upstream.script(*replies)

    job = run_job()

    assert job.status == JobStatus.FAILED
    assert "not valid twice" in job.error and reason in job.error
    assert job.operations == [] and job.finished_at is not None
    assert list(Memory.objects.filter(user=user)) == [city]
    assert Memory.objects.get(pk=city.pk).content == "The user lives in Paris."
    assert list(MemoryHistory.objects.values_list("pk", flat=True)) == before
    assert llm_upstream.pending_replies == 0


def test_a_job_run_twice_applies_nothing_twice(user, run_job, llm_upstream):
    llm_upstream.script(facts_reply("The user lives in Berlin."))
    job = run_job()
    requests = len(llm_upstream.chat_requests)

    again = extraction.extraction_job_run(job_id=job.pk)

    assert again is None
    assert len(llm_upstream.chat_requests) == requests
    assert Memory.objects.filter(user=user).count() == 1
    assert MemoryHistory.objects.filter(job=job).count() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1


def test_a_run_that_lost_its_claim_writes_nothing(user, llm_upstream, monkeypatch):
    job = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    llm_upstream.script(facts_reply("The user lives in Berlin."))
    plan = running.run_plan

    def taken_over_meanwhile(run):
        planned = plan(run)
        # Another worker took the job over while this one waited for the model.
        ExtractionJob.objects.filter(pk=job.pk).update(run_token=None)
        return planned

    monkeypatch.setattr(running, "run_plan", taken_over_meanwhile)

    assert extraction.extraction_job_run(job_id=job.pk) is None
    assert not Memory.objects.filter(user=user).exists()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # the other run will finish it


def test_a_stale_run_is_taken_over(user, llm_upstream, settings):
    settings.MEMORY_EXTRACTION_STALE_SECONDS = 60
    job = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    started = timezone.now() - timezone.timedelta(minutes=5)
    ExtractionJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=started, attempts=1
    )
    llm_upstream.script(facts_reply("The user lives in Berlin."))

    done = extraction.extraction_job_run(job_id=job.pk)

    assert done.status == JobStatus.SUCCEEDED and done.attempts == 2


def test_a_running_job_is_not_run_again(user, llm_upstream):
    job = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    ExtractionJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), attempts=1
    )

    assert extraction.extraction_job_run(job_id=job.pk) is None
    assert llm_upstream.chat_requests == []


def test_another_users_memories_are_never_candidates(
    user, other_user, run_job, llm_upstream, remember
):
    theirs = remember(other_user, "The user lives in Paris.")
    other_scope = remember(user, "The user lives in Paris.", agent_id="another-agent")
    exchange = remember(user, "", prompt="Where do I live?", response="The user lives in Paris.")
    llm_upstream.script(facts_reply("The user lives in Berlin."))

    job = run_job()

    assert job.status == JobStatus.SUCCEEDED, job.error
    # No candidate in the user's own scope: the fact is added without asking for a decision.
    assert len(llm_upstream.chat_requests) == 1
    assert [op["event"] for op in job.operations] == ["ADD"]
    for memory in (theirs, other_scope, exchange):
        memory.refresh_from_db()
        assert "Paris" in memory.content


def test_candidates_are_limited_to_the_scope_and_top_k(
    user, run_job, llm_upstream, remember, settings
):
    settings.MEMORY_EXTRACTION_CANDIDATES = 2
    for city in ("Paris", "Lyon", "Nice"):
        remember(user, f"The user lives in {city}.", session_id="s-1")
    remember(user, "The user lives in Rome.", session_id="s-2")
    llm_upstream.script(
        facts_reply("The user lives in Berlin."), decisions_reply({"fact": 0, "event": "NONE"})
    )

    job = run_job(session_id="s-1")

    shown = llm_upstream.chat_requests[1].json["messages"][1]["content"]
    assert shown.count('"id"') == 2 and "Rome" not in shown
    assert job.operations[0] | {"fact": None} == {
        "fact": None,
        "event": "NONE",
        "memory_id": None,
        "text": None,
        "previous_text": None,
        "applied": False,
        "reason": "",
        "history_id": None,
    }


def test_two_facts_on_one_memory_change_it_once(user, run_job, llm_upstream, remember):
    city = remember(user, "The user lives in Paris.")
    llm_upstream.script(
        facts_reply("The user lives in Berlin.", "The user lives in Munich."),
        decisions_reply(
            {"fact": 0, "event": "UPDATE", "memory_id": "0", "text": "The user lives in Berlin."},
            {"fact": 1, "event": "DELETE", "memory_id": 0},
        ),
    )

    job = run_job()

    first, second = job.operations
    assert first["applied"] and not second["applied"]
    assert second["reason"] == "Another fact of this job already changed this memory."
    assert Memory.objects.get(pk=city.pk).content == "The user lives in Berlin."


def test_a_memory_edited_after_the_decision_is_left_alone(
    user, llm_upstream, remember, monkeypatch
):
    city = remember(user, "The user lives in Paris.")
    job = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    llm_upstream.script(
        facts_reply("The user lives in Berlin."),
        decisions_reply({"fact": 0, "event": "DELETE", "memory_id": "0"}),
    )
    plan = running.run_plan

    def edited_meanwhile(run):
        planned = plan(run)
        Memory.objects.filter(pk=city.pk).update(content="x", content_hash="changed")
        return planned

    monkeypatch.setattr(running, "run_plan", edited_meanwhile)

    done = extraction.extraction_job_run(job_id=job.pk)

    assert done.status == JobStatus.SUCCEEDED
    assert done.operations[0]["reason"] == "The memory changed after the decision."
    assert Memory.objects.filter(pk=city.pk).exists()


def test_an_add_of_stored_text_is_not_applied(user, run_job, llm_upstream, remember):
    remember(user, "The user plays the cello.")
    llm_upstream.script(
        facts_reply("The user lives in Berlin."),
        decisions_reply({"fact": 0, "event": "ADD", "text": "The user plays the cello."}),
    )

    job = run_job()

    (operation,) = job.operations
    assert not operation["applied"] and operation["reason"] == "Already stored in this scope."


def test_token_usage_is_counted_for_the_user(user, run_job, llm_upstream):
    llm_upstream.script(
        Reply(text="nope", usage={"prompt_tokens": 100, "completion_tokens": 5}),
        Reply(text='{"facts": []}', usage={"prompt_tokens": 120, "completion_tokens": 7}),
    )

    job = run_job()

    assert (job.prompt_tokens, job.completion_tokens) == (220, 12)
    usage = DailyUsage.objects.get(user=user)
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (2, 220, 12)


def test_a_provider_failure_fails_the_job_with_the_reason(user, run_job, llm_upstream):
    llm_upstream.script(*[Reply.auth_failed()] * 3)

    job = run_job()

    assert job.status == JobStatus.FAILED
    assert job.error.startswith("PROVIDER_AUTH_FAILED: ")


def test_rerun_queues_a_new_job_on_the_same_conversation(user, run_job, llm_upstream):
    llm_upstream.script(Reply(text="x"), Reply(text="y"))
    failed = run_job(agent_id="a-1")
    llm_upstream.script(facts_reply("The user lives in Berlin."))

    (rerun,) = extraction.extraction_jobs_rerun(job_ids=[failed.pk])
    extraction.extraction_job_run(job_id=rerun.pk)

    rerun.refresh_from_db()
    assert rerun.status == JobStatus.SUCCEEDED and rerun.trigger == JobTrigger.RERUN
    assert (rerun.rerun_of_id, rerun.agent_id, rerun.messages) == (failed.pk, "a-1", CONVERSATION)
    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILED


def test_the_sweep_requeues_lost_jobs_and_gives_up_on_stuck_ones(user, llm_upstream, settings):
    from memories.tasks import extraction_sweep

    settings.MEMORY_PENDING_SWEEP_AFTER_SECONDS = 60
    settings.MEMORY_EXTRACTION_STALE_SECONDS = 60
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    lost = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    stuck = extraction.extraction_job_create(user=user, messages=CONVERSATION)
    ExtractionJob.objects.filter(pk=lost.pk).update(created_at=long_ago)
    ExtractionJob.objects.filter(pk=stuck.pk).update(
        status=JobStatus.RUNNING, started_at=long_ago, attempts=extraction.MAX_ATTEMPTS
    )
    llm_upstream.script(facts_reply())

    assert extraction_sweep() == 1

    lost.refresh_from_db()
    stuck.refresh_from_db()
    assert lost.status == JobStatus.SUCCEEDED
    assert stuck.status == JobStatus.FAILED and "did not finish" in stuck.error
