"""The official openai package, pointed at a live Engram server, works unchanged — and the
user's memories reach the model."""

import json
import urllib.error
import urllib.request

import openai
import pytest

from accounts.models import Persona
from accounts.services import api_key_create
from chat.models import Message
from chat.tests.factories import ThreadFactory
from memories.services import MemoryDraft, memories_embed, memory_create
from testing.fake_openai import Reply

pytestmark = pytest.mark.django_db(transaction=True)
MODEL = "gpt-4o-mini"


@pytest.fixture
def client(engram, user) -> openai.OpenAI:
    memory, _ = memory_create(
        user=user, draft=MemoryDraft(content="My favourite database is PostgreSQL.")
    )
    memories_embed(memory_ids=[memory.pk])
    _, secret = api_key_create(user=user, name="sdk", scopes=["chat"])
    return openai.OpenAI(base_url=f"{engram}/v1", api_key=secret, max_retries=0)


def test_a_completion_carries_the_users_memories(client, fake_openai):
    fake_openai.script(Reply(text="PostgreSQL, as you told me."))

    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Which database is my favourite?"}]
    )

    assert completion.choices[0].message.content == "PostgreSQL, as you told me."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    sent = fake_openai.chat_requests[0].json["messages"]
    assert sent[0]["role"] == "system" and "PostgreSQL" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Which database is my favourite?"}


def test_streaming_with_usage(client, fake_openai):
    fake_openai.script(Reply(tokens=["Post", "gre", "SQL"]))

    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Which database?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "PostgreSQL"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_models_lists_what_the_user_can_use(client):
    ids = [model.id for model in client.models.list()]

    assert MODEL in ids


def test_errors_surface_as_openai_errors(client, fake_openai):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])
    fake_openai.script(*[Reply.server_error()] * 5)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('"x\\u0000y"', id="NUL"),
        # JSON may carry a lone surrogate; Python's clients refuse to encode one, hence raw bytes.
        pytest.param('"x\\ud800y"', id="lone surrogate"),
        pytest.param('[{"type": "text", "text": "a\\u0000b"}]', id="NUL in a part"),
    ],
)
def test_text_postgresql_cannot_store_is_a_400(client, fake_openai, content):
    body = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": {content}}}]}}'

    request = urllib.request.Request(
        f"{client.base_url}chat/completions",
        data=body.encode(),
        headers={"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)

    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["code"] == "VALIDATION_ERROR"
    assert not fake_openai.chat_requests


@pytest.mark.parametrize("n", [3, 1_000_000_000, 0])
def test_asking_for_other_than_one_choice_is_a_400_the_client_shows(client, fake_openai, n):
    with pytest.raises(openai.BadRequestError, match=r"exactly one choice \(n=1\)"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Two answers?"}], n=n
        )

    assert not fake_openai.chat_requests


@pytest.mark.parametrize(
    ("messages", "extra", "field"),
    [
        ([{"role": "user", "content": None}], {}, "messages"),
        ([{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}], {}, "messages"),
        ([{"role": "user", "content": "hi"}], {"max_tokens": 10**20}, "max_tokens"),
        ([{"role": "user", "content": "hi"}], {"max_completion_tokens": 10**7},
         "max_completion_tokens"),
    ],
)  # fmt: skip
def test_what_the_provider_would_refuse_is_a_400_naming_the_field(
    client, fake_openai, messages, extra, field
):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=messages, **extra)

    error = refused.value.body
    assert error["code"] == "VALIDATION_ERROR" and field in error["details"]
    assert not fake_openai.chat_requests  # never sent on


def test_a_temperature_out_of_every_providers_range_is_a_validation_error(client, fake_openai):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "Hot?"}], temperature=9
        )

    error = refused.value.body  # the SDK keeps the body's "error" object
    assert error["code"] == "VALIDATION_ERROR" and "temperature" in error["details"]
    assert not fake_openai.chat_requests


def test_a_thread_header_keeps_the_exchange(client, user, fake_openai):
    thread = ThreadFactory(user=user)
    fake_openai.script(Reply(text="Noted."))

    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Remember this thread."}],
        extra_headers={"X-Engram-Thread": str(thread.pk)},
    )

    saved = list(Message.objects.filter(thread=thread).order_by("created_at"))
    assert [(m.role, m.content) for m in saved] == [
        ("user", "Remember this thread."),
        ("assistant", "Noted."),
    ]


def test_a_wrong_key_is_refused(engram):
    stranger = openai.OpenAI(base_url=f"{engram}/v1", api_key="egm_wrong", max_retries=0)

    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_a_persona_header_speaks_as_the_persona(client, user, fake_openai):
    Persona.objects.create(
        user=user, name="Pirate", system_prompt="Talk like a pirate.", temperature=1.3
    )
    fake_openai.script(Reply(text="Arr."))

    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers={"X-Engram-Persona": "Pirate"},
    )

    assert completion.choices[0].message.content == "Arr."
    sent = fake_openai.chat_requests[0].json
    assert sent["messages"][0] == {"role": "system", "content": "Talk like a pirate."}
    assert sent["messages"][-1] == {"role": "user", "content": "Hello"}
    assert sent["temperature"] == 1.3


def test_another_users_persona_is_not_found(client, other_user, fake_openai):
    theirs = Persona.objects.create(user=other_user, name="Theirs", system_prompt="Secret.")

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hello"}],
            extra_headers={"X-Engram-Persona": str(theirs.pk)},
        )
    assert fake_openai.chat_requests == []


ACCEPTS = [
    pytest.param("text/event-stream", id="event-stream"),
    pytest.param("application/json", id="json"),
    pytest.param("*/*", id="any"),
    pytest.param(None, id="none"),
    pytest.param("application/json, text/event-stream", id="json-and-event-stream"),
    pytest.param("text/event-stream, application/json;q=0.9", id="event-stream-preferred"),
    pytest.param("text/event-stream;charset=utf-8", id="event-stream-with-charset"),
]


def _post_completion(client, body: dict, accept: str | None):
    headers = {"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    request = urllib.request.Request(
        f"{client.base_url}chat/completions", data=json.dumps(body).encode(), headers=headers
    )
    return urllib.request.urlopen(request, timeout=30)


@pytest.mark.parametrize("accept", ACCEPTS)
def test_a_stream_answers_whatever_a_client_accepts(client, fake_openai, accept):
    fake_openai.script(Reply(tokens=["Post", "gre", "SQL"]))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Which?"}], "stream": True}

    with _post_completion(client, body, accept) as answer:
        status, content_type, text = answer.status, answer.headers["Content-Type"], answer.read()

    assert status == 200
    assert content_type.startswith("text/event-stream")
    events = [line[6:] for line in text.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    deltas = [json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]]
    assert "".join(deltas) == "PostgreSQL"


@pytest.mark.parametrize("accept", ACCEPTS)
def test_a_whole_answer_is_json_whatever_a_client_accepts(client, fake_openai, accept):
    fake_openai.script(Reply(text="PostgreSQL."))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Which?"}]}

    with _post_completion(client, body, accept) as answer:
        status, content_type, text = answer.status, answer.headers["Content-Type"], answer.read()

    assert status == 200
    assert content_type.startswith("application/json")
    assert json.loads(text)["choices"][0]["message"]["content"] == "PostgreSQL."


@pytest.mark.parametrize("accept", ["text/event-stream", "application/json, text/event-stream"])
def test_a_refused_stream_is_the_json_error_shape(client, fake_openai, accept):
    body = {
        "model": "no-such-model",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }

    with pytest.raises(urllib.error.HTTPError) as refused:
        _post_completion(client, body, accept)

    assert refused.value.code == 404
    assert refused.value.headers["Content-Type"].startswith("application/json")
    assert json.loads(refused.value.read())["error"]["code"] == "NOT_FOUND"
