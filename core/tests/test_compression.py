"""Gzip for whole responses over 1 KB when the client accepts it; never for streams."""

import gzip
import http.client
import json
import urllib.request
from urllib.parse import urlsplit

import pytest

from accounts.services import tokens_issue
from chat.tests.factories import ThreadFactory
from testing.fake_openai import Reply
from testing.fixtures import SERVER_KEY
from testing.live import live_server

pytestmark = pytest.mark.django_db


def test_a_large_answer_is_gzipped_when_accepted(client):
    plain = client.get("/api/schema/")
    zipped = client.get("/api/schema/", HTTP_ACCEPT_ENCODING="gzip")

    assert len(plain.content) > 1024 and "Content-Encoding" not in plain
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content


def test_a_small_answer_is_sent_as_it_is(client):
    response = client.get("/api/v1/version", HTTP_ACCEPT_ENCODING="gzip")

    assert len(response.content) < 1024
    assert "Content-Encoding" not in response
    assert response.json()["version"]


@pytest.mark.django_db(transaction=True)
def test_a_stream_arrives_token_by_token_through_a_live_server(user, fake_openai, tmp_path):
    """The first token reaches the client while the model is still writing the answer (its
    second token is half a minute away): nothing between them buffers, gzip included. The open
    stream is counted meanwhile."""
    thread = ThreadFactory(user=user)
    env = {
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": SERVER_KEY,
        "EMBEDDING_BACKEND": "hashing",
        "LOG_LEVEL": "WARNING",
    }
    fake_openai.script(Reply(tokens=["Hello", " world"], delay=30))
    with live_server(env, tmp_path / "server.log") as server:
        address = urlsplit(server.url)
        # Fails with a timeout if the first token is held back until the answer is complete.
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=15)
        connection.request(
            "POST",
            f"/api/v1/threads/{thread.pk}/models/gpt-4o-mini/messages",
            body=json.dumps({"content": "Hi", "stream": True}),
            headers={
                "Authorization": f"Bearer {tokens_issue(user=user).access}",
                "Content-Type": "application/json",
                "Accept-Encoding": "gzip",
            },
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("Content-Encoding") is None
        received = b""
        while b'"token":"Hello"' not in received:
            part = response.read1(65536)
            assert part, f"the stream ended before its first token: {received!r}"
            received += part
        open_now = urllib.request.urlopen(f"{server.url}/metrics", timeout=5).read().decode()
        connection.close()

    assert b"event: token" in received
    assert b" world" not in received
    assert 'engram_streams_open{kind="sse"} 1.0' in open_now
