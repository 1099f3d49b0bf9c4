"""Streaming a chat turn over SSE through the real ASGI stack: order, heartbeat, hang-ups."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.services import tokens_issue
from chat.models import Message
from chat.tests.conftest import MODEL
from chat.tests.factories import ThreadFactory
from config.asgi import application
from testing.asgi import AsgiHttpClient, parse_sse
from testing.db import async_connections_in_use
from testing.fake_openai import Reply

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chat_setup(user):
    thread = ThreadFactory(user=user, title="Streaming")
    headers = {"authorization": f"Bearer {tokens_issue(user=user).access}"}
    return f"/api/v1/threads/{thread.pk}/models/{MODEL}/messages", headers, thread


async def test_events_arrive_in_order_with_the_whole_answer(chat_setup, llm_upstream):
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=["Hello", " there", ", friend"]))

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    events = parse_sse(await exchange.body())

    assert exchange.status == 200
    assert exchange.headers["content-type"] == "text/event-stream"
    assert exchange.headers["x-accel-buffering"] == "no"
    names = [name for name, _ in events]
    # Tokens that arrive together go on as one event; none is lost or reordered.
    assert names[0] == "message_start" and names[-2:] == ["message_complete", "close"]
    assert set(names[1:-2]) == {"token"}
    tokens = "".join(data["token"] for name, data in events if name == "token")
    assert tokens == "Hello there, friend"
    complete = events[-2][1]
    assert complete["content"] == "Hello there, friend"
    assert complete["usage"]["completion_tokens"] > 0
    answer = await Message.objects.aget(pk=events[0][1]["message_id"])
    assert answer.status == Message.Status.COMPLETE and answer.content == "Hello there, friend"


async def test_an_open_stream_holds_no_database_connection(chat_setup, llm_upstream):
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=["Slow", " answer"], delay=1.0))
    before = await async_connections_in_use()

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    # The question and the answer's placeholder are saved while the upstream starts, and that
    # save is over before the first token goes out: from then on the stream holds nothing.
    received = b""
    while b"event: token" not in received:
        received += await exchange.chunk()
    # Another thread of this process (a test before this one) may borrow one for a moment: the
    # stream holds none if the count comes back while it is still open (a second to go).
    deadline = asyncio.get_running_loop().time() + 0.8
    while (during := await async_connections_in_use()) != before:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    events = parse_sse(received + await exchange.body())

    assert during == before  # the request's own connection was given back when streaming began
    assert [name for name, _ in events][-2:] == ["message_complete", "close"]
    answer = await Message.objects.aget(pk=events[0][1]["message_id"])
    assert answer.status == Message.Status.COMPLETE and answer.content == "Slow answer"


async def test_accept_header_alone_asks_for_a_stream(chat_setup, llm_upstream):
    url, headers, _ = chat_setup

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi"}, headers={**headers, "accept": "text/event-stream"}
    )

    assert next(name for name, _ in parse_sse(await exchange.body())) == "message_start"


async def test_a_client_that_hangs_up_cancels_upstream_and_keeps_the_partial(
    chat_setup, llm_upstream
):
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=[f"t{i} " for i in range(200)], delay=0.02))

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Tell me a long story", "stream": True}, headers=headers
    )
    received = b""
    while received.count(b"event: token") < 3:
        received += await exchange.chunk()
    await exchange.disconnect()

    message_id = parse_sse(received)[0][1]["message_id"]
    answer = await Message.objects.aget(pk=message_id)
    assert answer.status == Message.Status.CANCELLED
    assert answer.content.startswith("t0 t1 t2")
    assert len(answer.content.split()) < 200
    assert await llm_upstream.async_wait_until(lambda: llm_upstream.last_request.disconnected)
    assert not llm_upstream.last_request.completed


async def test_an_upstream_failure_mid_stream_is_an_error_event_and_an_error_message(
    chat_setup, llm_upstream
):
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=["Partial", " answer", " lost"], fail_after=2))

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    events = parse_sse(await exchange.body())

    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["error", "close"]
    assert set(names[1:-2]) == {"token"}  # the tokens that came before, maybe as one event
    error = events[-2][1]
    assert error["code"] and error["message"]
    answer = await Message.objects.aget(pk=events[0][1]["message_id"])
    assert answer.status == Message.Status.ERROR
    assert answer.content == "Partial answer" and answer.error


async def test_a_heartbeat_keeps_a_quiet_stream_open(chat_setup, llm_upstream, monkeypatch):
    from chat import streaming

    monkeypatch.setattr(streaming, "SSE_HEARTBEAT_SECONDS", 0.05)
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=["late"], first_token_delay=0.3))

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    events = parse_sse(await exchange.body())

    assert (":", "keep-alive") in events
    assert events[-1][0] == "close"


async def test_errors_before_the_stream_are_json(chat_setup, llm_upstream):
    url, headers, thread = chat_setup
    bad = url.replace(MODEL, "no-such-model")

    exchange = await AsgiHttpClient(application).open(
        "POST", bad, body={"content": "Hi", "stream": True}, headers=headers
    )

    assert exchange.status == 404
    assert exchange.headers["content-type"] == "application/json"
    assert b'"NOT_FOUND"' in await exchange.body()
    assert not await sync_to_async(Message.objects.filter(thread=thread).exists)()
    await asyncio.sleep(0)


async def test_a_failure_after_the_stream_started_still_ends_it(
    chat_setup, llm_upstream, monkeypatch
):
    from chat import streaming

    async def broken_finish(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(streaming, "_finish", broken_finish)
    url, headers, _ = chat_setup
    llm_upstream.script(Reply(tokens=["half"]))

    exchange = await AsgiHttpClient(application).open(
        "POST", url, body={"content": "Hi", "stream": True}, headers=headers
    )
    events = parse_sse(await exchange.body(timeout=5))

    assert [name for name, _ in events][-2:] == ["error", "close"]
    assert events[-2][1]["code"] == "INTERNAL_ERROR"
    assert "database went away" not in str(events)
