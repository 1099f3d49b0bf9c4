"""Sending a message (not streamed): the model answers with the user's memories in context."""

import json
import logging
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from billing.models import DailyUsage
from chat import streaming
from chat.models import Message, Thread
from chat.tests.conftest import MODEL
from memories.models import ExtractionJob, JobStatus, JobTrigger, Memory, Source
from memories.services import MemoryDraft, memories_embed, memory_create
from memories.tests.conftest import facts_reply
from testing.fake_openai import Reply
from testing.isolation import assert_invisible_to

pytestmark = pytest.mark.django_db


def remember(user, text: str) -> Memory:
    memory, _ = memory_create(user=user, draft=MemoryDraft(content=text))
    memories_embed(memory_ids=[memory.pk])
    return memory


def test_an_answer_with_memories_usage_title_and_a_new_memory(
    auth_client, user, thread, messages_url, llm_upstream
):
    python = remember(user, "I write my data pipelines in Python with pandas.")
    remember(user, "My cat is called Miso.")
    llm_upstream.script(Reply(text="Use pandas read_csv with chunksize."))
    llm_upstream.script(Reply(text="Chunked CSV loading"))  # the generated title

    # Names the memory's subject: recall sends only memories above the relevance floor.
    question = "How do I load a huge CSV with pandas in Python?"
    response = auth_client.post(messages_url, {"content": question})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_message"]["content"] == question
    answer = body["assistant_message"]
    assert answer["content"] == "Use pandas read_csv with chunksize."
    assert answer["status"] == "complete"
    assert answer["prompt_tokens"] > 0 and answer["completion_tokens"] > 0
    assert str(python.pk) in [m["id"] for m in answer["memories_used"]]

    sent = llm_upstream.chat_requests[0]
    system = sent.json["messages"][0]
    assert system["role"] == "system" and "<memories>" in system["content"]
    assert "pandas" in system["content"]
    assert sent.authorization == "Bearer sk-test-server-key-0000"

    usage = DailyUsage.objects.get(user=user)
    assert usage.requests >= 1 and usage.completion_tokens >= answer["completion_tokens"]
    assert Thread.objects.get(pk=thread.pk).title == "Chunked CSV loading"
    saved = Memory.objects.get(user=user, source=Source.CHAT)
    assert "read_csv" in saved.content
    assert saved.metadata["thread_id"] == str(thread.pk)
    assert saved.thread_id == thread.pk


def test_memory_can_be_switched_off(auth_client, user, thread, messages_url, llm_upstream):
    remember(user, "I write my data pipelines in Python with pandas.")
    user.memory_enabled = False
    user.save_chat_memories = False
    user.save()

    response = auth_client.post(messages_url, {"content": "Python question"})

    assert response.json()["assistant_message"]["memories_used"] == []
    assert "<memories>" not in llm_upstream.chat_requests[0].json["messages"][0]["content"]
    assert not Memory.objects.filter(user=user, source=Source.CHAT).exists()


def test_history_is_sent_per_model(auth_client, user, thread, messages_url, llm_upstream):
    llm_upstream.script(Reply(text="First answer."), Reply(text="T"), Reply(text="Second answer."))

    auth_client.post(messages_url, {"content": "First question"})
    auth_client.post(messages_url, {"content": "Second question"})

    sent = llm_upstream.chat_requests[-1].json["messages"]
    assert [m["content"] for m in sent[1:]] == [
        "First question",
        "First answer.",
        "Second question",
    ]
    other = auth_client.get(f"/api/v1/threads/{thread.pk}/models/other-model/messages")
    assert other.json()["results"] == []
    nul = auth_client.get(f"/api/v1/threads/{thread.pk}/models/%00/messages")
    assert nul.status_code == 200 and nul.json()["results"] == []  # not a 500


def test_an_upstream_failure_keeps_both_messages(
    auth_client, user, thread, messages_url, llm_upstream
):
    llm_upstream.script(*[Reply.server_error()] * 5)

    response = auth_client.post(messages_url, {"content": "Hello?"})

    assert response.status_code in (502, 503)
    error = response.json()["error"]
    assert error["code"] in ("PROVIDER_UNAVAILABLE", "PROVIDER_ERROR")
    answer = Message.objects.get(pk=error["details"]["assistant_message_id"])
    assert answer.status == Message.Status.ERROR and answer.error
    assert Message.objects.filter(thread=thread, role="user", content="Hello?").exists()


@pytest.mark.parametrize(
    "refused_statement",
    # The question and the answer's placeholder are inserted while the upstream request starts,
    # the answer is written when it ends: each is tried again when the database refuses it.
    ['INSERT INTO "chat_message"', 'UPDATE "chat_message"'],
)
def test_the_exchange_is_saved_even_when_the_database_refuses_it_at_first(
    auth_client, thread, messages_url, llm_upstream, monkeypatch, refused_statement
):
    """An overloaded process may wait past DATABASE_POOL_TIMEOUT for a connection; what the
    turn has is then only in memory, so saving it is tried again."""
    monkeypatch.setattr(streaming, "DB_RETRY_SECONDS", 0)
    llm_upstream.script(Reply(text="Kept after all."))
    refused = []

    def refuse_first(execute, sql, params, many, context):
        if sql.startswith(refused_statement) and not refused:
            refused.append(sql)
            raise OperationalError("couldn't get a connection after 10.00 sec")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_first):
        response = auth_client.post(messages_url, {"content": "Hello?"})

    assert response.status_code == 200, response.content
    assert refused
    assert response.json()["user_message"]["content"] == "Hello?"
    answer = Message.objects.get(pk=response.json()["assistant_message"]["id"])
    assert answer.status == Message.Status.COMPLETE and answer.content == "Kept after all."
    assert Message.objects.filter(thread=thread).count() == 2


@pytest.mark.parametrize(
    ("url_model", "body", "status", "code", "field"),
    [
        ("no-such-model", {"content": "hi"}, 404, "NOT_FOUND", None),
        (MODEL, {"content": "hi", "temperature": 3.5}, 400, "VALIDATION_ERROR", "temperature"),
        (MODEL, {"content": "   "}, 400, "VALIDATION_ERROR", "content"),
        (MODEL, {}, 400, "VALIDATION_ERROR", "content"),
        (MODEL, {"content": "word " * 140_000}, 400, "CONTEXT_TOO_LONG", "content"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(
    auth_client, thread, llm_upstream, url_model, body, status, code, field
):
    url = f"/api/v1/threads/{thread.pk}/models/{url_model}/messages"

    response = auth_client.post(url, body)

    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["details"]
    assert not Message.objects.exists()
    assert llm_upstream.chat_requests == []


def test_a_model_without_a_key_is_unavailable(auth_client, thread, settings):
    providers = {**settings.LLM_PROVIDERS}
    providers["openai"] = {**providers["openai"], "api_key": ""}
    settings.LLM_PROVIDERS = providers

    response = auth_client.post(
        f"/api/v1/threads/{thread.pk}/models/{MODEL}/messages", {"content": "hi"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MODEL_UNAVAILABLE"


def test_the_users_own_key_is_used_when_present(
    auth_client, user, thread, messages_url, llm_upstream
):
    auth_client.put("/api/v1/auth/provider-keys/openai", {"api_key": "sk-users-own-key-1234"})

    auth_client.post(messages_url, {"content": "hi"})

    assert llm_upstream.chat_requests[0].authorization == "Bearer sk-users-own-key-1234"


def test_manual_summary_folds_all_but_the_last_exchange(
    auth_client, user, thread, messages_url, llm_upstream
):
    llm_upstream.script(Reply(text="answer 0"), Reply(text="title"))
    llm_upstream.script(Reply(text="answer 1"), Reply(text="answer 2"))
    for i in range(3):
        auth_client.post(messages_url, {"content": f"question {i}"})
    llm_upstream.script(
        Reply(
            text="They asked three questions.",
            usage={"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57},
        )
    )

    response = auth_client.post(f"/api/v1/threads/{thread.pk}/models/{MODEL}/summarize")

    assert response.status_code == 200, response.content
    assert response.json()["summary"] == "They asked three questions."
    transcript = llm_upstream.chat_requests[-1].json["messages"][1]["content"]
    assert "question 0" in transcript and "question 2" not in transcript
    llm_upstream.script(Reply(text="ok"))
    auth_client.post(messages_url, {"content": "question 3"})
    sent = llm_upstream.chat_requests[-1].json["messages"]
    assert "They asked three questions." in sent[0]["content"]
    assert [m["content"] for m in sent[1:]] == ["question 2", "answer 2", "question 3"]


def test_another_users_thread_cannot_be_chatted_in(other_client, thread, llm_upstream):
    url = f"/api/v1/threads/{thread.pk}/models/{MODEL}"
    assert_invisible_to(other_client, [("POST", f"{url}/messages"), ("POST", f"{url}/summarize")])
    assert llm_upstream.chat_requests == []
    assert Decimal(0) == sum((u.cost_usd for u in DailyUsage.objects.all()), Decimal(0))


def test_a_conversation_that_outgrows_the_window_gets_a_rolling_summary(
    auth_client, user, settings, tmp_path, llm_upstream
):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[[models]]\nid = "tiny"\nname = "Tiny"\nprovider = "openai"\n'
        "context_length = 600\nmax_output_tokens = 100\n"
    )
    settings.LLM_CATALOG_FILE = str(catalog)
    settings.LLM_PROVIDERS = {
        **settings.LLM_PROVIDERS,
        "openai": {**settings.LLM_PROVIDERS["openai"], "models": ["tiny"]},
    }
    thread = Thread.objects.create(user=user, title="Long talk")
    url = f"/api/v1/threads/{thread.pk}/models/tiny/messages"
    llm_upstream.default_reply = Reply(text="Noted, carry on.")

    for i in range(12):  # ~55 tokens an exchange against a 500-token prompt budget
        response = auth_client.post(url, {"content": f"question {i}: " + "context " * 40})
        assert response.status_code == 200, response.content

    context = thread.contexts.get(model_id="tiny")
    assert context.summary == "Noted, carry on."
    assert context.summarized_until is not None
    summarized = [r for r in llm_upstream.chat_requests if "Summarize" in str(r.json["messages"])]
    assert "question 0" in summarized[0].json["messages"][1]["content"]
    last_turn = llm_upstream.chat_requests[-1].json["messages"]
    if "Summarize" in last_turn[0]["content"]:
        last_turn = llm_upstream.chat_requests[-2].json["messages"]
    assert "<conversation_summary>" in last_turn[0]["content"]
    assert all("question 0:" not in m["content"] for m in last_turn[1:])
    assert "question 11" in last_turn[-1]["content"]


def test_facts_are_extracted_from_a_finished_exchange_after_commit(
    auth_client, user, thread, messages_url, llm_upstream, committing
):
    llm_upstream.script(
        Reply(text="Rust's clap crate is a good start."),
        Reply(text="CLI tools in Rust"),  # the title
        facts_reply("The user writes command-line tools in Rust."),
    )

    response = committing(
        lambda: auth_client.post(messages_url, {"content": "I write my CLI tools in Rust now."})
    )

    assert response.status_code == 200
    job = ExtractionJob.objects.get(user=user)
    assert (job.trigger, job.status) == (JobTrigger.CHAT, JobStatus.SUCCEEDED)
    assert job.messages == [
        {"role": "user", "content": "I write my CLI tools in Rust now."},
        {"role": "assistant", "content": "Rust's clap crate is a good start."},
    ]
    assert job.metadata["thread_id"] == str(thread.pk)
    assert Memory.objects.filter(
        user=user, source=Source.EXTRACTION, content="The user writes command-line tools in Rust."
    ).exists()


def test_with_nothing_scripted_extraction_finds_no_facts_and_warns_of_nothing(
    auth_client, user, messages_url, llm_upstream, committing, caplog
):
    # given the fake upstream as `python -m testing.fake_openai` serves it: every answer echoed
    with caplog.at_level(logging.WARNING):
        response = committing(lambda: auth_client.post(messages_url, {"content": "I like tea."}))

    assert response.status_code == 200
    job = ExtractionJob.objects.get(user=user)
    assert (job.status, job.facts, job.error) == (JobStatus.SUCCEEDED, [], "")
    assert not Memory.objects.filter(user=user, source=Source.EXTRACTION).exists()
    assert [record.getMessage() for record in caplog.records] == []


def test_the_queue_carries_ids_and_the_tasks_read_the_exchange(
    auth_client, user, thread, messages_url, llm_upstream, committing, broker_messages
):
    llm_upstream.script(
        Reply(text="Noted: oat milk with the espresso."),
        Reply(text="Coffee habits"),  # the title
        facts_reply("The user drinks oat milk."),
    )

    committing(lambda: auth_client.post(messages_url, {"content": "My espresso gets oat milk."}))

    sent = {name for name, _, _ in broker_messages}
    assert {"chat.exchange_remember", "memories.extract"} <= sent
    carried = json.dumps(broker_messages)
    assert "espresso" not in carried and "oat milk" not in carried
    remembered = Memory.objects.get(user=user, source=Source.CHAT)
    assert (remembered.prompt, remembered.response) == (
        "My espresso gets oat milk.",
        "Noted: oat milk with the espresso.",
    )
    assert remembered.metadata["thread_id"] == str(thread.pk)
    assert ExtractionJob.objects.get(user=user).status == JobStatus.SUCCEEDED


def test_no_extraction_when_the_user_turned_it_off(
    auth_client, user, thread, messages_url, llm_upstream, committing
):
    user.auto_extract = False
    user.save()

    committing(lambda: auth_client.post(messages_url, {"content": "I write CLIs in Rust."}))

    assert not ExtractionJob.objects.exists()


def test_a_message_too_long_for_one_memory_is_remembered_in_parts(
    auth_client, user, thread, messages_url, llm_upstream, settings, tmp_path
):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(f'[[models]]\nid = "{MODEL}"\ncontext_length = 1000000\n')
    settings.LLM_CATALOG_FILE = str(catalog)  # a model whose context holds the message
    llm_upstream.script(Reply(text="Noted, all of it."), Reply(text="Long notes"))
    # 600,000+ characters that never repeat.
    content = " ".join(f"fact{n}" for n in range(62_000))
    assert len(content) > 600_000 > settings.MEMORY_MAX_CONTENT_CHARS

    response = auth_client.post(messages_url, {"content": content}, format="json")

    assert response.status_code == 200, response.content[:500]
    parts = list(Memory.objects.filter(user=user, source=Source.CHAT).order_by("metadata__part"))
    assert len(parts) > 1
    assert "".join(part.content for part in parts) == f"{content}\n\nNoted, all of it."
    assert {part.metadata["parts"] for part in parts} == {len(parts)}
    assert all(part.thread_id == thread.pk for part in parts)


def test_an_upstream_rate_limit_says_when_to_come_back_in_whole_seconds(
    auth_client, messages_url, llm_upstream, settings
):
    # A fraction (OpenAI's retry-after-ms) in the header broke clients that int() it.
    settings.LLM_MAX_RETRIES = 0
    llm_upstream.script(Reply(status=429, headers={"retry-after-ms": "6500"}))

    response = auth_client.post(messages_url, {"content": "Hello?"})

    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "RATE_LIMITED_UPSTREAM"
    assert response["Retry-After"] == "7"


def test_a_question_whose_answer_failed_is_not_sent_again_with_the_next(
    auth_client, messages_url, llm_upstream, settings
):
    # Kept, every retry of a failing question went again: n failures, n copies of it in the
    # prompt, one after another.
    settings.LLM_MAX_RETRIES = 0
    llm_upstream.script(Reply(status=500), Reply(status=500))
    auth_client.post(messages_url, {"content": "Which plan suits me?"})
    auth_client.post(messages_url, {"content": "Which plan suits me?"})
    llm_upstream.script(Reply(text="The team plan."), Reply(text="Plans"))

    answered = auth_client.post(messages_url, {"content": "Which plan suits me, then?"})

    assert answered.status_code in (200, 201), answered.content
    [answer] = [
        r for r in llm_upstream.chat_requests
        if r.json["messages"][-1]["content"] == "Which plan suits me, then?"
    ]  # fmt: skip
    sent = [m["content"] for m in answer.json["messages"] if m["role"] == "user"]
    assert sent == ["Which plan suits me, then?"]
