"""Chat over the WebSocket: auth, send, cancel, parallel streams, isolation."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import api_key_create, api_key_revoke, tokens_issue
from accounts.tests.factories import UserFactory
from chat.models import Message
from chat.tests.conftest import MODEL
from chat.tests.factories import ThreadFactory
from config.asgi import application
from conftest import bearer_client
from teams.services import organisation_create
from teams.tests.conftest import join, remember
from testing.db import async_connections_in_use
from testing.fake_openai import Reply

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_database_pool"),
]


async def connect(path: str, **kwargs) -> tuple[WebsocketCommunicator, bool, int | None]:
    socket = WebsocketCommunicator(application, path, **kwargs)
    connected, subprotocol = await socket.connect(timeout=5)
    return socket, connected, subprotocol


async def frames_until(socket, predicate, timeout: float = 10) -> list[dict]:
    seen = []
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        seen.append(frame)
        if predicate(frame, seen):
            return seen


async def chat_send(socket, thread, content: str, **extra) -> None:
    frame = {"type": "chat.send", "thread_id": str(thread.pk), "model": MODEL, "content": content}
    await socket.send_json_to(frame | extra)


def tokens_seen(at_least: int):
    return lambda frame, seen: sum(f["type"] == "token" for f in seen) >= at_least


@pytest.fixture
def token(user) -> str:
    return tokens_issue(user=user).access


@pytest.fixture
def thread(user):
    return ThreadFactory(user=user, title="Socket")


@pytest.mark.parametrize("path", ["/ws/chat/", "/ws/chat/?token=not-a-token"])
async def test_without_valid_credentials_the_socket_closes_with_4401(path):
    socket, connected, _ = await connect(path)

    assert connected
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_send_streams_the_answer_in_frames(token, thread, llm_upstream):
    llm_upstream.script(Reply(tokens=["Bonjour", " !"]))
    socket, _, _ = await connect(f"/ws/chat/?token={token}")

    await chat_send(socket, thread, "Salut", client_id="c-1")
    frames = await frames_until(socket, lambda f, _: f["type"] == "close")

    kinds = [f["type"] for f in frames]
    # Tokens that arrive together go on as one frame; none is lost or reordered.
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_complete", "close"]
    assert set(kinds[1:-2]) == {"token"}
    assert "".join(f["token"] for f in frames if f["type"] == "token") == "Bonjour !"
    assert {f["client_id"] for f in frames} == {"c-1"}
    assert frames[-2]["content"] == "Bonjour !"
    answer = await Message.objects.aget(pk=frames[0]["message_id"])
    assert answer.status == Message.Status.COMPLETE
    await socket.disconnect()


async def test_the_token_can_come_as_a_subprotocol(token, user, thread, llm_upstream):
    socket, connected, subprotocol = await connect("/ws/chat/", subprotocols=["engram.v1", token])

    assert connected and subprotocol == "engram.v1"
    await chat_send(socket, thread, "hi")
    frames = await frames_until(socket, lambda f, _: f["type"] == "close")
    assert frames[-2]["type"] == "message_complete"
    await socket.disconnect()


async def test_an_api_key_needs_the_chat_scope(user, thread):
    _, readonly = await api_key_create_async(user, ["memories:read"])
    socket, _, _ = await connect(f"/ws/chat/?token={readonly}")

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_a_key_revoked_while_the_socket_is_open_starts_nothing_more(
    user, thread, llm_upstream
):
    key, secret = await api_key_create_async(user, ["chat"])
    socket, _, _ = await connect(f"/ws/chat/?token={secret}")
    await chat_send(socket, thread, "before")
    await frames_until(socket, lambda f, _: f["type"] == "close")

    await sync_to_async(api_key_revoke)(user=user, key_id=key.pk)
    await chat_send(socket, thread, "sent after the revocation")

    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "AUTHENTICATION_FAILED"
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    assert not any(b"sent after the revocation" in r.body for r in llm_upstream.chat_requests)


async def api_key_create_async(user, scopes):
    from asgiref.sync import sync_to_async

    return await sync_to_async(api_key_create)(user=user, name="ws", scopes=scopes)


async def test_cancel_stops_one_stream_and_keeps_its_partial(token, thread, llm_upstream):
    llm_upstream.script(Reply(tokens=[f"w{i} " for i in range(300)], delay=0.02))
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    await chat_send(socket, thread, "long please", client_id="mine-7")
    frames = await frames_until(socket, tokens_seen(3))
    message_id = frames[0]["message_id"]

    await socket.send_json_to({"type": "chat.cancel", "message_id": message_id})
    closing = await frames_until(socket, lambda f, _: f["type"] == "close")

    assert closing[-1] == {
        "type": "close",
        "message_id": message_id,
        "status": "cancelled",
        "client_id": "mine-7",
    }
    answer = await Message.objects.aget(pk=message_id)
    assert answer.status == Message.Status.CANCELLED and answer.content.startswith("w0 w1 w2")
    assert await llm_upstream.async_wait_until(lambda: llm_upstream.last_request.disconnected)
    await socket.disconnect()


async def test_an_open_stream_holds_no_database_connection(token, thread, llm_upstream):
    llm_upstream.script(Reply(tokens=[f"w{i} " for i in range(100)], delay=0.02))
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    before = await async_connections_in_use()

    await chat_send(socket, thread, "long please")
    await frames_until(socket, tokens_seen(3))
    during = await async_connections_in_use()
    await frames_until(socket, lambda f, _: f["type"] == "close", timeout=15)
    # The turn gives its connection back just after its last event.
    deadline = asyncio.get_running_loop().time() + 2
    while (after := await async_connections_in_use()) != before:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)

    assert during == before  # hundreds of open streams must not need hundreds of connections
    assert after == before  # and the turn gave back what it took to save the answer
    await socket.disconnect()


async def test_two_streams_at_once_on_one_socket(token, thread, llm_upstream):
    llm_upstream.script(
        Reply(tokens=["a1", "a2", "a3"], delay=0.03), Reply(tokens=["b1", "b2", "b3"], delay=0.03)
    )
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    for client_id in ("A", "B"):
        await chat_send(socket, thread, client_id, client_id=client_id)

    frames = await frames_until(
        socket, lambda f, seen: sum(x["type"] == "close" for x in seen) == 2
    )

    by_client = {
        client: "".join(
            f["token"] for f in frames if f["type"] == "token" and f["client_id"] == client
        )
        for client in ("A", "B")
    }
    assert sorted(by_client.values()) == ["a1a2a3", "b1b2b3"]
    first_close = next(i for i, f in enumerate(frames) if f["type"] == "close")
    assert any(
        f["type"] == "token"
        for f in frames[:first_close]
        if f["client_id"] != frames[first_close]["client_id"]
    )
    await socket.disconnect()


async def test_disconnecting_saves_running_streams_as_cancelled(token, thread, llm_upstream):
    llm_upstream.script(Reply(tokens=[f"x{i} " for i in range(300)], delay=0.02))
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    await socket.send_json_to({"type": "chat.send", "thread_id": str(thread.pk), "model": MODEL,
                               "content": "go"})  # fmt: skip
    frames = await frames_until(
        socket, lambda f, seen: sum(x["type"] == "token" for x in seen) >= 2
    )

    await socket.disconnect()

    answer = await Message.objects.aget(pk=frames[0]["message_id"])
    assert answer.status == Message.Status.CANCELLED


async def test_another_users_thread_is_not_found(other_user, thread, llm_upstream):
    from asgiref.sync import sync_to_async

    token = (await sync_to_async(tokens_issue)(user=other_user)).access
    socket, _, _ = await connect(f"/ws/chat/?token={token}")

    await chat_send(socket, thread, "peek", client_id="x")
    frame = await socket.receive_json_from(timeout=5)

    assert frame["type"] == "error" and frame["code"] == "NOT_FOUND" and frame["client_id"] == "x"
    assert llm_upstream.chat_requests == []
    assert not await Message.objects.filter(thread=thread).aexists()
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "VALIDATION_ERROR"),
        ({"type": "chat.dance"}, "VALIDATION_ERROR"),
        ({"type": "chat.send", "model": MODEL, "content": "x"}, "VALIDATION_ERROR"),
        ({"type": "chat.cancel", "message_id": "nope"}, "NOT_FOUND"),
    ],
)
async def test_bad_frames_get_error_frames_and_the_socket_stays_open(token, frame, code):
    socket, _, _ = await connect(f"/ws/chat/?token={token}")

    if isinstance(frame, str):
        await socket.send_to(text_data=frame)
    else:
        await socket.send_json_to(frame)
    reply = await socket.receive_json_from(timeout=5)

    assert reply["type"] == "error" and reply["code"] == code
    await socket.send_json_to({"type": "chat.cancel", "message_id": "still-here"})
    unknown = await socket.receive_json_from(timeout=5)
    # A cancel of no running stream echoes the ids it was given, never an empty client_id.
    assert unknown["code"] == "NOT_FOUND" and unknown["message_id"] == "still-here"
    assert "client_id" not in unknown
    await socket.send_json_to({"type": "chat.cancel", "message_id": "gone", "client_id": "c-9"})
    named = await socket.receive_json_from(timeout=5)
    assert (named["message_id"], named["client_id"]) == ("gone", "c-9")
    await socket.disconnect()


async def test_bad_token_frames_never_reach_upstream(token, thread, llm_upstream):
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    await chat_send(socket, thread, "x", temperature=9)

    reply = await socket.receive_json_from(timeout=5)

    assert reply["code"] == "VALIDATION_ERROR" and "temperature" in reply["details"]
    await asyncio.sleep(0.05)
    assert llm_upstream.chat_requests == []
    await socket.disconnect()


async def test_a_failure_on_our_side_ends_the_stream_with_error_and_close(
    token, thread, llm_upstream, monkeypatch
):
    from chat import streaming

    async def broken_finish(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(streaming, "_finish", broken_finish)
    socket, _, _ = await connect(f"/ws/chat/?token={token}")
    await chat_send(socket, thread, "hi", client_id="z")

    frames = await frames_until(socket, lambda f, _: f["type"] == "close", timeout=5)

    assert [f["type"] for f in frames][-2:] == ["error", "close"]
    assert frames[-2]["code"] == "INTERNAL_ERROR" and frames[-2]["client_id"] == "z"
    await socket.disconnect()


@pytest.mark.redis
async def test_an_idle_consumer_outlives_the_redis_layers_blocking_wait(redis_url):
    """Every socket's consumer waits on the channel layer; on Redis a wait that outlasts
    channels_redis's 5 s block must not break the connection (redis-py 8's read timeout)."""
    from channels_redis.core import RedisChannelLayer

    from config.runtime import redis_channel_layer

    layer = RedisChannelLayer(**redis_channel_layer(redis_url)["CONFIG"])
    channel = await layer.new_channel()
    waiting = asyncio.ensure_future(layer.receive(channel))
    try:
        done, _ = await asyncio.wait({waiting}, timeout=layer.brpop_timeout + 1.5)
        assert not done, f"the wait ended: {waiting.exception()!r}"
        await layer.send(channel, {"type": "chat.ping"})
        assert await asyncio.wait_for(waiting, 5) == {"type": "chat.ping"}
    finally:
        waiting.cancel()
        await layer.flush()


async def test_turns_over_the_socket_count_against_the_users_api_rate_limit(
    user, token, thread, llm_upstream, still_rate_limit_window
):
    """A socket is no way around the tier's limits: a free user's 20 requests a minute, spent
    on the API, leave no turn for the socket, and nothing of it is saved."""
    api = await sync_to_async(bearer_client)(user)
    for _ in range(20):
        assert (await sync_to_async(api.get)("/api/v1/auth/me")).status_code == 200
    socket, _, _ = await connect(f"/ws/chat/?token={token}")

    await chat_send(socket, thread, "one more", client_id="late")
    frame = await socket.receive_json_from(timeout=5)

    assert frame["type"] == "error" and frame["code"] == "RATE_LIMITED"
    assert frame["details"]["window"] == "minute" and frame["client_id"] == "late"
    assert not llm_upstream.chat_requests
    assert not await Message.objects.filter(thread=thread).aexists()
    await socket.disconnect()


@pytest.fixture
def team_memory(user):
    """A team ``user`` is in, which they keep in their searches, and a memory of it."""
    team = organisation_create(owner=UserFactory(), name="Ops")
    join(team, user)
    return remember(team.space, "The staging password rotates every Friday at noon.")


async def test_a_send_frame_chooses_the_teams_recalled(token, thread, team_memory, llm_upstream):
    socket, _, _ = await connect(f"/ws/chat/?token={token}")

    for scope, recalled in (("none", False), ("all", True)):
        llm_upstream.script(Reply(text="Fridays."))
        before = len(llm_upstream.chat_requests)
        await chat_send(socket, thread, "When does the staging password rotate?",
                        include_team=scope)  # fmt: skip
        await frames_until(socket, lambda f, _: f["type"] == "close")
        # The turn's own request (an extraction of the exchange may follow it).
        system = llm_upstream.chat_requests[before].json["messages"][0]["content"]
        assert ("rotates every Friday" in system) is recalled
    await socket.disconnect()
