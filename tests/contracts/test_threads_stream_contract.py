"""The threads design (002), streaming: every event carries a timestamp, and a client that lost
the stream resumes it with Last-Event-ID (the stream still running, or just finished), through
the real ASGI stack."""

import datetime as dt
import json
import re

import pytest
import redis
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from chat.models import Message
from chat.tests.factories import ThreadFactory
from config.asgi import application
from core.sse_resume import stream_store
from testing.asgi import AsgiHttpClient
from testing.fake_openai import Reply

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
MODEL = "gpt-4o-mini"


def frames(raw: bytes) -> list[dict]:
    """The complete frames of an SSE body (a piece cut mid-frame is left out), heartbeats too."""
    found = []
    for frame in raw.decode().split("\n\n")[:-1]:
        if frame.startswith(":"):
            continue
        fields = dict(re.findall(r"^(\w+): (.*)$", frame, re.MULTILINE))
        found.append(
            {"id": fields.get("id"), "event": fields["event"], **json.loads(fields["data"])}
        )
    return found


def number(frame: dict) -> int:
    return int(frame["id"].rpartition(".")[2])


@pytest.fixture
def turn_url(user):
    thread = ThreadFactory(user=user, title="Streaming")
    headers = {"authorization": f"Bearer {tokens_issue(user=user).access}"}
    return f"/api/v1/threads/{thread.pk}/models/{MODEL}/messages", headers


async def whole_stream(client: AsgiHttpClient, url: str, headers: dict) -> list[dict]:
    """A turn streamed to its end, as frames."""
    exchange = await client.open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    return frames(await exchange.body())


async def read_until_tokens(exchange, count: int) -> bytes:
    received = b""
    while sum(f["event"] == "token" for f in frames(received)) < count:
        received += await exchange.chunk()
    return received


async def test_every_event_has_an_id_and_a_timestamp(turn_url, llm_upstream):
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=["Hello", " there"]))
    before = dt.datetime.now(dt.UTC)

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    events = frames(await exchange.body())

    message_id = events[0]["message_id"]
    assert [e["event"] for e in events][-2:] == ["message_complete", "close"]
    assert [e["id"] for e in events] == [f"{message_id}.{n}" for n in range(1, len(events) + 1)]
    times = [dt.datetime.fromisoformat(e["timestamp"]) for e in events]
    assert all(e["timestamp"].endswith("Z") for e in events)
    assert times == sorted(times) and before - dt.timedelta(seconds=1) <= times[0]


async def test_a_dropped_stream_resumes_with_exactly_the_missing_events(turn_url, llm_upstream):
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=[f"t{i} " for i in range(200)], delay=0.02))
    client = AsgiHttpClient(application)

    first = await client.open(
        "POST", url, body={"content": "A story", "stream": True}, headers=headers
    )
    got = frames(await read_until_tokens(first, 3))
    await first.disconnect()  # the turn is cancelled; its stream ends as it did
    resumed = await client.open("GET", url, headers={**headers, "last-event-id": got[-1]["id"]})
    rest = frames(await resumed.body())

    assert resumed.status == 200 and resumed.headers["content-type"] == "text/event-stream"
    # No event twice, none missing: the ids go on from the last one received to the close.
    assert [number(f) for f in got + rest] == list(range(1, len(got) + len(rest) + 1))
    assert rest[-1]["event"] == "close" and rest[-1]["status"] == "cancelled"
    tokens = "".join(f["token"] for f in got + rest if f["event"] == "token")
    answer = await Message.objects.aget(pk=got[0]["message_id"])
    assert answer.status == Message.Status.CANCELLED and answer.content.startswith(tokens)
    assert tokens.startswith("t0 t1 t2 ")


async def test_a_stream_still_running_resumes_live_to_its_end(turn_url, llm_upstream):
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=[f"w{i} " for i in range(12)], delay=0.03))
    client = AsgiHttpClient(application)

    first = await client.open("POST", url, body={"content": "Go", "stream": True}, headers=headers)
    received = await read_until_tokens(first, 2)
    last_id = frames(received)[-1]["id"]
    # The client sends its turn again after losing the stream: the stream resumes, no new turn.
    second = await client.open(
        "POST",
        url,
        body={"content": "Go", "stream": True},
        headers={**headers, "last-event-id": last_id},
    )
    resumed = frames(await second.body())
    whole = frames(received + await first.body())

    after = [f for f in whole if number(f) > number(frames(received)[-1])]
    assert resumed == after
    assert [f["event"] for f in resumed][-2:] == ["message_complete", "close"]
    assert sum(bool(r.json.get("stream")) for r in llm_upstream.chat_requests) == 1
    assert await Message.objects.filter(role=Message.Role.USER).acount() == 1


async def test_after_the_window_a_resume_is_410_stream_expired(turn_url, llm_upstream):
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=["Done"]))
    client = AsgiHttpClient(application)
    done = await whole_stream(client, url, headers)
    await sync_to_async(
        stream_store().clear
    )()  # what SSE_RESUME_SECONDS of silence does to its frames

    late = await client.open("GET", url, headers={**headers, "last-event-id": done[1]["id"]})
    body = json.loads(await late.body())

    assert late.status == 410
    assert body["error"]["code"] == "STREAM_EXPIRED"


async def test_only_the_newest_events_of_a_long_stream_are_kept(turn_url, llm_upstream, settings):
    settings.SSE_RESUME_MAX_EVENTS = 4
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=[f"x{i} " for i in range(10)], delay=0.01))
    client = AsgiHttpClient(application)
    done = await whole_stream(client, url, headers)
    assert len(done) > 5  # more events than are kept

    tail = await client.open("GET", url, headers={**headers, "last-event-id": done[-4]["id"]})
    head = await client.open("GET", url, headers={**headers, "last-event-id": done[0]["id"]})

    assert frames(await tail.body()) == done[-3:]
    assert head.status == 410
    assert json.loads(await head.body())["error"]["code"] == "STREAM_EXPIRED"


async def test_a_resume_names_only_a_stream_of_ones_own(turn_url, llm_upstream, other_user):
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=["Mine"]))
    client = AsgiHttpClient(application)
    done = await whole_stream(client, url, headers)
    other_thread = await sync_to_async(ThreadFactory)(user=other_user)
    other_tokens = await sync_to_async(tokens_issue)(user=other_user)
    other_headers = {"authorization": f"Bearer {other_tokens.access}"}
    other_url = f"/api/v1/threads/{other_thread.pk}/models/{MODEL}/messages"

    stolen = await client.open(
        "GET", other_url, headers={**other_headers, "last-event-id": done[0]["id"]}
    )
    malformed = await client.open("GET", url, headers={**headers, "last-event-id": "not-an-id"})

    assert stolen.status == 404
    assert json.loads(await stolen.body())["error"]["code"] == "NOT_FOUND"
    assert malformed.status == 400
    assert json.loads(await malformed.body())["error"]["code"] == "VALIDATION_ERROR"


async def test_with_redis_a_stream_is_kept_where_every_process_reads_it(
    turn_url, llm_upstream, settings, redis_url
):
    settings.CACHES = {
        **settings.CACHES,
        "streams": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
        },
    }
    url, headers = turn_url
    llm_upstream.script(Reply(tokens=["Kept", " in", " Redis"]))
    client = AsgiHttpClient(application)
    done = await whole_stream(client, url, headers)

    kept = redis.Redis.from_url(redis_url)
    try:
        assert kept.keys(f"*sse:{done[0]['message_id']}*")  # not this process's memory
    finally:
        kept.close()
    resumed = await client.open("GET", url, headers={**headers, "last-event-id": done[0]["id"]})
    assert frames(await resumed.body()) == done[1:]
