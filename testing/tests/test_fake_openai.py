"""The fake server speaks the wire formats the real ones do: checked byte by byte and with the
official openai client."""

import http.client
import json

import openai
import pytest

from testing.fake_openai import PullScript, Reply, fake_embedding, split_tokens


@pytest.fixture
def client(fake_openai) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)


def raw_post(fake, path: str, body: dict) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def test_a_stream_is_sse_chunks_ending_with_done(fake_openai):
    fake_openai.script(Reply(tokens=["Hi", " there"]))

    status, headers, data = raw_post(
        fake_openai,
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = data.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hi", " there"]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["completion_tokens"] == 2
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1


def test_the_official_client_reads_answers_and_streams(fake_openai, client):
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "echo me"}]
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "echo me too"}], stream=True
    )

    assert answer.choices[0].message.content == "echo me"
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo me too"
    assert fake_openai.requests[0].authorization == "Bearer sk-test"


def test_scripted_replies_go_to_their_model_in_order(fake_openai, client):
    fake_openai.script(Reply(text="for b", model="b"), Reply(text="first"), Reply(text="second"))

    texts = [
        client.chat.completions.create(model=m, messages=[]).choices[0].message.content
        for m in ("a", "b", "a", "a")
    ]

    assert texts == ["first", "for b", "second", "OK"]
    assert fake_openai.pending_replies == 0


def test_unscripted_a_json_list_shown_in_the_instructions_comes_back_empty(fake_openai, client):
    def answer(system: str, **options) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "Hi"}]
        completion = client.chat.completions.create(model="m", messages=messages, **options)
        return completion.choices[0].message.content

    json_mode = {"response_format": {"type": "json_object"}}
    assert answer('Answer with JSON: {"facts": ["The user ..."]}', **json_mode) == '{"facts": []}'
    # Another JSON shape, or no JSON asked for: the echo, as before.
    assert answer('Answer with JSON: {"agent": "<name>"}', **json_mode) == "Hi"
    assert answer('Answer with JSON: {"facts": ["The user ..."]}') == "Hi"
    fake_openai.script(Reply(text="scripted"))
    assert answer('{"facts": [', **json_mode) == "scripted"


def test_errors_have_openais_shape(fake_openai, client):
    fake_openai.script(Reply.rate_limited(retry_after=3))

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])

    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"


def test_embeddings_are_deterministic_and_similar_for_shared_words(fake_openai, client):
    fake_openai.embedding_dimensions = 64

    result = client.embeddings.create(  # the client asks for base64 and decodes it
        model="text-embedding-3-small", input=["red apples", "red apples", "blue sky"]
    )

    same, again, other = (item.embedding for item in result.data)
    assert same == pytest.approx(again) and len(same) == 64
    assert same == pytest.approx(fake_embedding("red apples", 64))
    assert sum(a * b for a, b in zip(same, fake_embedding("red pears", 64), strict=True)) > 0.3
    assert sum(a * b for a, b in zip(same, other, strict=True)) == pytest.approx(0, abs=0.5)


def test_models_are_listed(fake_openai, client):
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "fake-model"]


def test_ollama_pull_streams_progress_lines_and_adds_the_model(fake_openai):
    fake_openai.script_pull(PullScript(layers=1, steps=2))

    status, headers, data = raw_post(fake_openai, "/api/pull", {"model": "llama3:8b"})

    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert status == 200 and headers["content-type"] == "application/x-ndjson"
    assert lines[0] == {"status": "pulling manifest"}
    assert [line.get("completed") for line in lines[1:3]] == [2_000_000, 4_000_000]
    assert lines[-1] == {"status": "success"}
    assert "llama3:8b" in fake_openai.local_models


def test_ollama_pull_failures(fake_openai):
    fake_openai.script_pull(PullScript(status=404), PullScript(error_after=2, error="boom"))

    status, _, data = raw_post(fake_openai, "/api/pull", {"model": "nope"})
    _, _, streamed = raw_post(fake_openai, "/api/pull", {"model": "nope"})

    assert status == 404 and "error" in json.loads(data)
    assert json.loads(streamed.decode().splitlines()[-1]) == {"error": "boom"}
    assert fake_openai.local_models == set()


def test_an_unknown_path_is_a_404(fake_openai):
    status, _, data = raw_post(fake_openai, "/v1/nothing", {})

    assert status == 404 and json.loads(data)["error"]["type"] == "invalid_request_error"


def test_tokens_join_back_to_the_text():
    for text in ["Hello big world", " lead and trail ", "one", ""]:
        assert "".join(split_tokens(text)) == text
    assert split_tokens("Hello big world") == ["Hello", " big", " world"]


def test_the_command_serves_on_the_asked_port_and_echoes(tmp_path):
    """`python -m testing.fake_openai --port N`, as docs/chat.md runs it beside `make run`."""
    import subprocess
    import sys

    from testing.live import REPO, free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.fake_openai", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == f"http://127.0.0.1:{port}/v1"
        answer = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=0
        ).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello, Engram"}]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert answer.choices[0].message.content == "Hello, Engram"
