"""Server-sent events: framing, heartbeats, and the same stream under WSGI and ASGI."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncRequestFactory, RequestFactory
from rest_framework.response import Response

from core.sse import HEARTBEAT, EventStreamRenderer, event_stream_response, sse_event


def counting_step(until: int, *, idle_first: int = 0):
    """Sends nothing for ``idle_first`` steps, then one event per step up to ``until``."""
    calls = {"n": 0}

    def step():
        calls["n"] += 1
        if calls["n"] <= idle_first:
            return [], False
        number = calls["n"] - idle_first
        return [sse_event("tick", {"n": number})], number >= until

    return step


def test_an_event_is_framed_as_sse():
    assert sse_event("progress", {"a": 1}) == b'event: progress\ndata: {"a":1}\n\n'


def test_under_wsgi_the_stream_is_a_sync_iterator_with_heartbeats():
    request = RequestFactory().get("/")

    response = event_stream_response(
        request, counting_step(2, idle_first=3), interval=0.001, heartbeat=0.0
    )

    assert not response.is_async
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no"
    frames = list(response.streaming_content)
    assert frames[:3] == [HEARTBEAT] * 3
    assert frames[3:] == [sse_event("tick", {"n": 1}), sse_event("tick", {"n": 2})]


@pytest.mark.asyncio
async def test_under_asgi_the_stream_is_an_async_iterator():
    request = AsyncRequestFactory().get("/")

    # As a sync view is called, off the event loop under ASGI: the response gives the thread's
    # database connections back, which Django refuses on the loop (called there, this test
    # failed in a full run once an earlier test of its worker had left a connection behind).
    response = await sync_to_async(event_stream_response)(request, counting_step(3), interval=0.001)

    assert response.is_async
    frames = [frame async for frame in response.streaming_content]
    assert frames == [sse_event("tick", {"n": n}) for n in (1, 2, 3)]


def test_an_error_before_the_stream_stays_json():
    response = Response({"error": {"code": "NOT_FOUND"}}, status=404)

    body = EventStreamRenderer().render(response.data, renderer_context={"response": response})

    assert json.loads(body) == {"error": {"code": "NOT_FOUND"}}
    assert response["Content-Type"] == "application/json"
